"""Build models/house-tiny, the gateway's embedded default model, from data/tinyshakespeare.txt.

A byte-level BPE tokenizer and a tiny Llama (`make_tiny_model`), then a few minutes of plain
PyTorch training on 2 CPU cores, so the default model answers in Shakespeare-like verse rather
than noise. Seeds are fixed (initialisation, batches, the printed sample).

    python scripts/make_house_tiny.py [--out models/house-tiny] [--steps 600]
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path
from typing import Any

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from multimodel.inhouse.tiny import make_tiny_model

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=ROOT / "data" / "tinyshakespeare.txt")
    ap.add_argument("--out", type=Path, default=ROOT / "models" / "house-tiny")
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--context", type=int, default=256)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    text = args.data.read_text(encoding="utf-8")
    make_tiny_model(
        args.out,
        text=text,
        vocab_size=512,
        hidden=128,
        layers=4,
        heads=4,
        context=args.context,
        seed=args.seed,
    )
    tokenizer = AutoTokenizer.from_pretrained(args.out)
    model = AutoModelForCausalLM.from_pretrained(args.out, dtype=torch.float32)

    data = encode_speeches(text, tokenizer)
    split = int(len(data) * 0.9)
    train, val = data[:split], data[split:]
    print(
        f"{len(data):,} tokens ({len(text) / len(data):.2f} chars/token), {model.num_parameters():,} parameters"
    )

    gen = torch.Generator().manual_seed(args.seed)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, betas=(0.9, 0.95), weight_decay=0.1)
    warmup = max(1, args.steps // 20)
    started = time.monotonic()
    model.train()
    loss = torch.tensor(0.0)
    for step in range(1, args.steps + 1):
        # Linear warm-up, then cosine decay to a tenth: the nanoGPT schedule.
        progress = max(0.0, (step - warmup) / max(1, args.steps - warmup))
        scale = step / warmup if step <= warmup else 0.1 + 0.45 * (1 + math.cos(math.pi * progress))
        for group in opt.param_groups:
            group["lr"] = args.lr * scale
        x = batch(train, args.batch, args.context, gen)
        loss = model(input_ids=x, labels=x).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if step % 50 == 0 or step == args.steps:
            print(f"step {step:4d}  loss {loss.item():.3f}  {time.monotonic() - started:5.0f}s", flush=True)

    model.eval()
    print(f"final train loss {loss.item():.3f}, val loss {evaluate(model, val, args.context):.3f}")
    model.save_pretrained(args.out)
    prompt = tokenizer.apply_chat_template(
        [{"role": "user", "content": "Speak, good friend: what news?"}],
        tokenize=False,
        add_generation_prompt=True,
    )
    ids = tokenizer(prompt, add_special_tokens=False, return_tensors="pt")["input_ids"]
    torch.manual_seed(args.seed)
    out = model.generate(ids, max_new_tokens=80, do_sample=True, temperature=0.8, top_k=40)
    print("sample:\n" + str(tokenizer.decode(out[0, ids.shape[1] :], skip_special_tokens=True)))


def encode_speeches(text: str, tokenizer: Any) -> torch.Tensor:
    """The text as one token stream, each speech ("NAME:\\nlines\\n") closed by the end-of-sequence
    token, the way the chat template closes a turn, so the model learns where an answer ends."""
    eos: int = tokenizer.eos_token_id
    ids: list[int] = []
    for speech in text.split("\n\n"):
        if speech.strip():
            ids += tokenizer(speech.strip("\n") + "\n", add_special_tokens=False)["input_ids"]
            ids.append(eos)
    return torch.tensor(ids)


def batch(data: torch.Tensor, size: int, context: int, gen: torch.Generator) -> torch.Tensor:
    starts = torch.randint(0, len(data) - context, (size,), generator=gen)
    return torch.stack([data[s : s + context] for s in starts.tolist()])


@torch.no_grad()
def evaluate(model: torch.nn.Module, data: torch.Tensor, context: int, limit: int = 64) -> float:
    windows = data[: len(data) // context * context].view(-1, context)[:limit]
    return sum(model(input_ids=w[None], labels=w[None]).loss.item() for w in windows) / len(windows)


if __name__ == "__main__":
    main()
