"""The in-house pipeline's GPU checks in one run, sized for a short lease of one H100 or H200.

    python3 bench/gpu_run.py --out DIR            # about 7 minutes: speed, then quality
    python3 bench/gpu_run.py --smoke --out DIR    # the same plumbing on tiny shapes, on a CPU

1. Speed: our trainer vs a minimal plain loop of the same model (bench/train_speed.py): 124m,
   context 1024, bf16, compiled; tokens/s and MFU side by side.
2. Quality: configs/shakespeare-char.yaml, nanoGPT's character-level reference (best validation
   loss about 1.47), trained by our trainer.

Runs from the repository root without installing the project: it needs python3 with torch, numpy,
tokenizers, safetensors, tqdm and PyYAML. DIR/results.json is rewritten after each part, so a run
cut short still returns what it measured.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

import torch  # noqa: E402
import train_speed  # noqa: E402
import yaml  # noqa: E402

from multimodel.inhouse.train import TrainConfig, train  # noqa: E402


def speed(smoke: bool, device: str) -> dict[str, Any]:
    if smoke:
        return train_speed.compare("tiny", 512, 128, 8, 5, 2, device, compile_=False)
    return train_speed.compare("124m", 50304, 1024, 16, 50, 10, device, compile_=True)


def quality(smoke: bool) -> dict[str, Any]:
    options = yaml.safe_load((ROOT / "configs" / "shakespeare-char.yaml").read_text())
    if smoke:
        options |= {"steps": 30, "size": "tiny", "context": 64, "batch_size": 8, "eval_interval": 10, "eval_iters": 2,
                    "compile": False}  # fmt: skip
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:  # the checkpoints stay behind: only numbers come back
        paths = [str(ROOT / p) for p in options["data"]]
        metrics = train(TrainConfig.from_dict(options | {"data": paths, "out_dir": tmp}))
        history = torch.load(Path(tmp) / "ckpt.pt", map_location="cpu", weights_only=False)["history"]
    metrics.pop("data")
    evals = [
        {"step": r["step"], "val_loss": r["val_loss"], "train_loss": r["loss"]}
        for r in history
        if "val_loss" in r
    ]
    return {"config": options, "metrics": metrics, "evals": evals, "seconds": time.perf_counter() - t0}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument(
        "--smoke", action="store_true", help="tiny shapes, no compile: checks the plumbing on a CPU"
    )
    ap.add_argument("--only", choices=["speed", "quality"])
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    results: dict[str, Any] = {
        "device": torch.cuda.get_device_name() if device == "cuda" else platform.processor() or "cpu",
        "torch": torch.__version__,
        "smoke": args.smoke,
    }

    def save() -> None:
        (args.out / "results.json").write_text(json.dumps(results, indent=2))

    save()
    if args.only in (None, "speed"):
        results["speed"] = speed(args.smoke, device)
        save()
        print(f"speed ({results['device']}):\n{train_speed.report(results['speed'])}", flush=True)
    if args.only in (None, "quality"):
        results["quality"] = q = quality(args.smoke)
        save()
        m = q["metrics"]
        print(f"quality (shakespeare-char, {m['steps']} steps, {q['seconds']:.0f} s): best val loss "
              f"{m['best_val_loss']:.4f}, last {m['val_loss']:.4f}, train {m['train_loss']:.4f}", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
