"""Evaluation of an exported model directory: perplexity on a text file, and answers to a prompt
set saved as JSON Lines (for the arena and for reading side by side)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import torch

from multimodel.inhouse import data as data_mod
from multimodel.inhouse import tokenizer as tok_mod
from multimodel.inhouse.hf import from_hf
from multimodel.inhouse.model import Decoder


def load(model_dir: Path, device: str = "cpu") -> tuple[Decoder, Any]:
    model = from_hf(model_dir).to(device).eval()
    return model, tok_mod.load(model_dir)


@torch.no_grad()
def perplexity(model_dir: Path, text_file: Path, *, context: int | None = None, batch_size: int = 8,
               device: str = "cpu") -> dict[str, float]:  # fmt: skip
    """Mean next-token cross-entropy over the file, in non-overlapping windows of `context` tokens."""
    data_mod.validate_inputs([text_file])
    model, tokenizer = load(model_dir, device)
    ids: list[int] = []
    for text in data_mod.iter_texts([text_file]):
        ids += tokenizer.encode(
            text, add_special_tokens=False, verbose=False
        )  # no "too long" warning: we window it
    context = min(context or model.cfg.max_seq_len, model.cfg.max_seq_len)
    windows = [ids[i : i + context + 1] for i in range(0, len(ids) - 1, context)]
    windows = [w for w in windows if len(w) > 1]
    total_loss, total_tokens = 0.0, 0
    for i in range(0, len(windows), batch_size):
        for w in windows[i : i + batch_size]:  # windows differ in length only at the end: one at a time there
            t = torch.tensor(w, device=device)
            _, loss = model(t[None, :-1], t[None, 1:])
            n = len(w) - 1
            total_loss += float(loss) * n
            total_tokens += n
    mean = total_loss / total_tokens
    return {"loss": mean, "perplexity": math.exp(mean), "tokens": total_tokens}


@torch.no_grad()
def generate(model: Decoder, tokenizer: Any, prompt: str, *, max_tokens: int = 64, temperature: float = 0.0,
             seed: int = 0, device: str = "cpu") -> str:  # fmt: skip
    """Answer one chat prompt (the tokenizer's chat template); greedy at temperature 0."""
    messages = [{"role": "user", "content": prompt}]
    ids = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True)
    if not isinstance(ids, list):  # transformers 5 returns a BatchEncoding here
        ids = list(ids["input_ids"])
    gen = torch.Generator(device="cpu").manual_seed(seed)
    out: list[int] = []
    eos = tokenizer.eos_token_id
    for _ in range(max_tokens):
        window = (ids + out)[-model.cfg.max_seq_len :]
        logits, _ = model(torch.tensor([window], device=device))
        last = logits[0, -1].float().cpu()
        if temperature > 0:
            token = int(torch.multinomial(torch.softmax(last / temperature, -1), 1, generator=gen))
        else:
            token = int(last.argmax())
        if token == eos:
            break
        out.append(token)
    return str(tokenizer.decode(out, skip_special_tokens=True))


def answer_prompts(model_dir: Path, prompts_file: Path, out_file: Path, *, max_tokens: int = 64,
                   device: str = "cpu") -> int:  # fmt: skip
    """Answer each prompt (one per line, or JSON Lines with a "prompt" field); returns the count."""
    model, tokenizer = load(model_dir, device)
    prompts = _read_prompts(prompts_file)
    out_file.parent.mkdir(parents=True, exist_ok=True)
    with out_file.open("w", encoding="utf-8") as f:
        for p in prompts:
            answer = generate(model, tokenizer, p, max_tokens=max_tokens, device=device)
            f.write(json.dumps({"model": model_dir.name, "prompt": p, "answer": answer}) + "\n")
    return len(prompts)


def _read_prompts(path: Path) -> list[str]:
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if path.suffix == ".jsonl":
        return [str(json.loads(line)["prompt"]) for line in lines]
    return lines
