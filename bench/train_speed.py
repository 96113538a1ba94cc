"""Training speed: our trainer vs a minimal plain-PyTorch loop of the same model, side by side.

    python bench/train_speed.py                 # GPU: the 124m model, context 1024, bf16, compiled
    python bench/train_speed.py --size tiny --context 128 --batch 8 --steps 20 --no-compile   # CPU smoke run

Both sides train the same Decoder on the same random tokens with the same optimizer settings;
the baseline is the shortest loop that does the job (autocast, fused AdamW, compile), so any
overhead of the trainer (data pipeline, schedule, clipping, logging) shows up as a ratio.
Prints tokens/s, and MFU (6·N + attention FLOPs per token, see model.flops_per_token) on GPUs.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from multimodel.inhouse.model import Decoder, config_for
from multimodel.inhouse.train import TrainConfig, peak_flops, train


def baseline(size: str, vocab: int, context: int, batch: int, steps: int, warmup: int, device: str,
             compile_: bool) -> float:  # fmt: skip
    """Tokens/s of the minimal loop (steps after `warmup` untimed steps)."""
    torch.manual_seed(0)
    model = Decoder(config_for(size, vocab, context)).to(device)
    opt = model.configure_optimizer(6e-4, 0.1, fused=device.startswith("cuda"))
    step_model = torch.compile(model) if compile_ else model
    x = torch.randint(0, vocab, (batch, context + 1), device=device)
    ctx = torch.autocast("cuda", dtype=torch.bfloat16) if device.startswith("cuda") else torch.autocast("cpu", enabled=False)
    for i in range(warmup + steps):
        if i == warmup:
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            t0 = time.perf_counter()
        with ctx:
            _, loss = step_model(x[:, :-1], x[:, 1:])
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return batch * context * steps / (time.perf_counter() - t0)


def ours(size: str, vocab: int, context: int, batch: int, steps: int, warmup: int, device: str,
         compile_: bool, workdir: Path) -> float:  # fmt: skip
    """Tokens/s of `train()` (steps after its warm-up, which includes compilation)."""
    tokens = np.random.default_rng(0).integers(0, vocab - 8, size=batch * context * (steps + warmup) * 2 + 10_000)
    text = workdir / "tokens.txt"  # the trainer reads text: random "words" with a char tokenizer
    text.write_text(" ".join(map(str, tokens[:200_000])))
    cfg = TrainConfig(data=[str(text)], out_dir=str(workdir / "run"), tokenizer_kind="char", size=size,
                      model_overrides={"vocab_size": vocab}, context=context, batch_size=batch,
                      steps=warmup + steps, warmup=10, eval_interval=10**9, eval_iters=1,
                      checkpoint_interval=10**9, compile=compile_, device=device, progress=False)  # fmt: skip
    return float(train(cfg)["tokens_per_s"])  # the trainer's steady-state figure (compile warm-up excluded)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="124m")
    ap.add_argument("--vocab", type=int, default=50304)
    ap.add_argument("--context", type=int, default=1024)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--no-compile", action="store_true")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    compile_ = not args.no_compile
    flops = config_for(args.size, args.vocab, args.context).flops_per_token(args.context)
    p = peak_flops(device)
    base = baseline(args.size, args.vocab, args.context, args.batch, args.steps, args.warmup, device, compile_)
    with tempfile.TemporaryDirectory() as tmp:
        mine = ours(args.size, args.vocab, args.context, args.batch, args.steps, args.warmup, device, compile_, Path(tmp))
    rows = {"baseline": base, "multimodel": mine}
    print(f"{args.size}, context {args.context}, batch {args.batch}, {device}, compile={compile_}")
    for name, tps in rows.items():
        mfu = f"{flops * tps / p:.1%}" if p else "n/a"
        print(f"  {name:<11} {tps:>12,.0f} tokens/s   MFU {mfu}")
    print(f"  multimodel / baseline: {mine / base:.3f}")
    if args.json:
        args.json.write_text(json.dumps({"tokens_per_s": rows, "flops_per_token": flops, "peak": p}))


if __name__ == "__main__":
    main()
