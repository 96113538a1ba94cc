"""bench/gpu_run.py is what a short GPU lease runs: its smoke mode keeps that script working."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_gpu_run_smoke_measures_both_parts(tmp_path: Path) -> None:
    r = subprocess.run([sys.executable, str(ROOT / "bench" / "gpu_run.py"), "--smoke", "--out", str(tmp_path)],
                       capture_output=True, text=True, timeout=300, cwd=tmp_path)  # fmt: skip
    assert r.returncode == 0, r.stderr[-2000:]
    results = json.loads((tmp_path / "results.json").read_text())
    speed, quality = results["speed"], results["quality"]
    # The throughputs must be the timed steps' tokens over their time: both sides' timed steps
    # together cannot have taken longer than the whole comparison (a figure counting warm-up
    # steps, accumulation or the wrong batch would break this), and the same model trained on the
    # same shapes cannot differ tenfold between a plain loop and our trainer.
    shape = speed["shape"]
    assert (shape["size"], shape["context"], shape["batch"]) == ("tiny", 128, 8)
    timed_tokens = shape["batch"] * shape["context"] * shape["steps"]
    timed_s = timed_tokens / speed["baseline_tokens_per_s"] + timed_tokens / speed["multimodel_tokens_per_s"]
    assert 0 < timed_s < speed["seconds"]
    assert 0.1 < speed["ratio"] < 10
    assert f"multimodel / baseline: {speed['ratio']:.3f}" in r.stdout
    chars = len(set((ROOT / "data" / "tinyshakespeare.txt").read_text()))
    # 30 tiny steps already beat guessing uniformly among the characters
    assert quality["metrics"]["best_val_loss"] < math.log(chars)
    assert [e["step"] for e in quality["evals"]] == [10, 20, 30]
    assert "multimodel / baseline" in r.stdout and "best val loss" in r.stdout
