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
from typing import Any

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
    ctx = (
        torch.autocast("cuda", dtype=torch.bfloat16)
        if device.startswith("cuda")
        else torch.autocast("cpu", enabled=False)
    )
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
    tokens = np.random.default_rng(0).integers(
        0, vocab - 8, size=batch * context * (steps + warmup) * 2 + 10_000
    )
    text = workdir / "tokens.txt"  # the trainer reads text: random "words" with a char tokenizer
    text.write_text(" ".join(map(str, tokens[:200_000])))
    cfg = TrainConfig(data=[str(text)], out_dir=str(workdir / "run"), tokenizer_kind="char", size=size,
                      model_overrides={"vocab_size": vocab}, context=context, batch_size=batch,
                      steps=warmup + steps, warmup=10, eval_interval=10**9, eval_iters=1,
                      checkpoint_interval=10**9, compile=compile_, device=device, progress=False)  # fmt: skip
    return float(train(cfg)["tokens_per_s"])  # the trainer's steady-state figure (compile warm-up excluded)


def compare(size: str, vocab: int, context: int, batch: int, steps: int, warmup: int, device: str,
            compile_: bool) -> dict[str, Any]:  # fmt: skip
    """Both sides on one shape: tokens/s, their ratio and (on a known GPU) MFU."""
    shape = dict(size=size, vocab=vocab, context=context, batch=batch, steps=steps, warmup=warmup)
    flops = config_for(size, vocab, context).flops_per_token(context)
    peak = peak_flops(device)
    out: dict[str, Any] = {"shape": shape, "device": device, "compile": compile_, "flops_per_token": flops,
                           "peak_flops": peak}  # fmt: skip
    t0 = time.perf_counter()
    out["baseline_tokens_per_s"] = baseline(**shape, device=device, compile_=compile_)
    with tempfile.TemporaryDirectory() as tmp:
        out["multimodel_tokens_per_s"] = ours(**shape, device=device, compile_=compile_, workdir=Path(tmp))
    out["ratio"] = out["multimodel_tokens_per_s"] / out["baseline_tokens_per_s"]
    if peak:
        out["baseline_mfu"] = flops * out["baseline_tokens_per_s"] / peak
        out["multimodel_mfu"] = flops * out["multimodel_tokens_per_s"] / peak
    out["seconds"] = time.perf_counter() - t0
    return out


def report(r: dict[str, Any]) -> str:
    shape = r["shape"]
    lines = [
        f"{shape['size']}, context {shape['context']}, batch {shape['batch']}, {r['device']}, compile={r['compile']}"
    ]
    for name in ("baseline", "multimodel"):
        mfu = f"{r[name + '_mfu']:.1%}" if name + "_mfu" in r else "n/a"
        lines.append(f"  {name:<11} {r[name + '_tokens_per_s']:>12,.0f} tokens/s   MFU {mfu}")
    lines.append(f"  multimodel / baseline: {r['ratio']:.3f}")
    return "\n".join(lines)


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
    result = compare(args.size, args.vocab, args.context, args.batch, args.steps, args.warmup, device,
                     not args.no_compile)  # fmt: skip
    print(report(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
