"""The in-house pipeline end to end on CPU: train, resume bit for bit, export, reload with
transformers, serve through the gateway, two processes with gloo, and bad input refused early."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import openai
import pytest
import torch

from multimodel.inhouse import data as data_mod
from multimodel.inhouse.train import TrainConfig, train
from tests.support.gateway import GatewayProcess

REPO = Path(__file__).resolve().parents[2]
SHAKESPEARE = REPO / "data" / "tinyshakespeare.txt"
CLI = [sys.executable, "-m", "multimodel.cli"]


def _config(corpus: Path, out: Path, **kw: Any) -> TrainConfig:
    base: dict[str, Any] = dict(data=[str(corpus)], out_dir=str(out), tokenizer_kind="char", size="tiny",
                                context=64, batch_size=8, steps=200, lr=3e-3, warmup=20, eval_interval=100,
                                eval_iters=10, checkpoint_interval=1000, progress=False)  # fmt: skip
    return TrainConfig(**{**base, **kw})


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("corpus") / "shakespeare-slice.txt"
    path.write_bytes(SHAKESPEARE.read_bytes()[:150_000])
    return path


@pytest.fixture(scope="module")
def trained(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    run = tmp_path_factory.mktemp("run")
    return run, train(_config(corpus, run))


@pytest.fixture(scope="module")
def exported(trained: tuple[Path, dict[str, Any]], tmp_path_factory: pytest.TempPathFactory) -> Path:
    run, _ = trained
    out = tmp_path_factory.mktemp("export") / "house-test"
    subprocess.run([*CLI, "export", str(run), str(out)], check=True, capture_output=True)
    return out


def test_validation_loss_falls_well_below_unigram(trained: tuple[Path, dict[str, Any]]) -> None:
    run, metrics = trained
    info = data_mod.DataInfo.from_dict(
        json.loads((run / "data" / "data.json").read_text()), base=run / "data"
    )
    baseline = data_mod.unigram_baseline(info)
    assert metrics["val_loss"] < baseline - 0.6, (metrics["val_loss"], baseline)


def test_resume_continues_bit_for_bit(corpus: Path, tmp_path: Path) -> None:
    whole = train(_config(corpus, tmp_path / "whole", steps=30, eval_interval=15))
    train(_config(corpus, tmp_path / "split", steps=30, eval_interval=15, stop_at=12))  # "interrupted"
    resumed = train(_config(corpus, tmp_path / "split", steps=30, eval_interval=15))
    assert resumed["train_loss"] == whole["train_loss"] and resumed["val_loss"] == whole["val_loss"]
    a = torch.load(tmp_path / "whole" / "ckpt.pt", weights_only=False)
    b = torch.load(tmp_path / "split" / "ckpt.pt", weights_only=False)
    losses = [[(r["loss"], r.get("val_loss")) for r in ckpt["history"]] for ckpt in (a, b)]
    assert losses[0] == losses[1]
    for key, tensor in a["model"].items():
        assert torch.equal(tensor, b["model"][key]), key


def test_the_best_checkpoint_is_kept_and_exported_by_default(corpus: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    # A learning rate high enough that the validation loss need not fall at every evaluation.
    metrics = train(_config(corpus, run, steps=40, eval_interval=10, lr=3e-2, warmup=2))
    vals = {r["step"]: r["val_loss"] for r in torch.load(run / "ckpt.pt", weights_only=False)["history"]
            if "val_loss" in r}  # fmt: skip
    best_step = min(vals, key=lambda k: vals[k])
    best = torch.load(run / "best.pt", weights_only=False)
    assert best["step"] == best_step and "optimizer" not in best
    assert metrics["best_val_loss"] == vals[best_step]
    # The same run stopped at that step has exactly those weights.
    again = tmp_path / "again"
    train(_config(corpus, again, steps=40, eval_interval=10, lr=3e-2, warmup=2, stop_at=best_step))
    stopped = torch.load(again / "ckpt.pt", weights_only=False)["model"]
    assert all(torch.equal(t, stopped[k]) for k, t in best["model"].items())
    for choice, step in (("best", best_step), ("last", 40)):
        out = tmp_path / f"export-{choice}"
        subprocess.run(
            [*CLI, "export", str(run), str(out), "--checkpoint", choice], check=True, capture_output=True
        )
        assert json.loads((out / "meta.json").read_text())["metrics"]["steps"] == step


def test_export_reloads_in_transformers_with_identical_logits(trained: tuple[Path, dict[str, Any]],
                                                              exported: Path) -> None:  # fmt: skip
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from multimodel.inhouse.model import Decoder, DecoderConfig

    run, _ = trained
    state = torch.load(run / "ckpt.pt", weights_only=False)
    ours = Decoder(DecoderConfig.from_dict(state["model_config"]))
    ours.load_state_dict(state["model"])
    ours.eval()
    theirs = AutoModelForCausalLM.from_pretrained(exported).eval()
    tokenizer = AutoTokenizer.from_pretrained(exported)
    ids = torch.tensor(
        [tokenizer.encode("ROMEO:\nWhat light through yonder window", add_special_tokens=False)]
    )
    with torch.no_grad():
        torch.testing.assert_close(theirs(ids).logits, ours(ids)[0], atol=1e-5, rtol=1e-5)
    config = json.loads((exported / "config.json").read_text())
    assert config["head_dim"] in (64, 128) and config["vocab_size"] % 128 == 0
    meta = json.loads((exported / "meta.json").read_text())
    assert meta["data"]["sha256"] and meta["metrics"]["val_loss"] is not None and "training_config" in meta


def test_register_and_serve_through_the_gateway(exported: Path, tmp_path: Path) -> None:
    config = tmp_path / "multimodel.yaml"
    r = subprocess.run([*CLI, "register", str(exported), "--name", "house-test", "--config", str(config)],
                       capture_output=True, text=True)  # fmt: skip
    assert r.returncode == 0, r.stderr
    import yaml

    settings = yaml.safe_load(config.read_text())
    settings["database"] = f"sqlite:///{tmp_path / 'usage.db'}"
    with GatewayProcess(tmp_path, settings) as gw:
        client = openai.OpenAI(base_url=gw.openai_base, api_key="k", max_retries=0)
        assert "house-test" in [m.id for m in client.models.list()]
        stream = client.chat.completions.create(model="house-test", stream=True, max_tokens=20, temperature=0.8,
                                                seed=3, stream_options={"include_usage": True},
                                                messages=[{"role": "user", "content": "Speak."}])  # fmt: skip
        chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text and chunks[-1].usage is not None and 0 < chunks[-1].usage.completion_tokens <= 20


def _torchrun(corpus: Path, out: Path, steps: int, *extra: str, batch_size: int = 4) -> dict[str, Any]:
    """`multimodel train` in two gloo processes; returns rank 0's metrics."""
    args = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
            "-m", "multimodel.cli", "train", "--data", str(corpus), "--out", str(out), "--size", "tiny",
            "--steps", str(steps)]  # fmt: skip
    for key, value in (("tokenizer_kind", "char"), ("context", 64), ("batch_size", batch_size), ("lr", 3e-3),
                       ("warmup", 20), ("eval_interval", steps), ("eval_iters", 10), ("progress", "false")):  # fmt: skip
        args += ["--set", f"{key}={value}"]
    for item in extra:
        args += ["--set", item]
    r = subprocess.run(
        args, capture_output=True, text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"}
    )
    assert r.returncode == 0, r.stderr[-2000:]
    return dict(json.loads(r.stdout[r.stdout.index("{") :]))


def test_two_gloo_processes_match_one(corpus: Path, tmp_path: Path) -> None:
    single = train(_config(corpus, tmp_path / "one", steps=60, eval_interval=60, batch_size=8))
    two = _torchrun(corpus, tmp_path / "two", 60)
    # Same global batch (2 x 4 = 8), different draws: the losses agree within sampling noise.
    assert abs(two["val_loss"] - single["val_loss"]) < 0.15, (two, single)


def test_fsdp_checkpoint_is_whole_and_resumes_exactly(corpus: Path, tmp_path: Path) -> None:
    from multimodel.inhouse.model import Decoder, DecoderConfig

    whole = _torchrun(corpus, tmp_path / "whole", 8, "fsdp=true")
    _torchrun(corpus, tmp_path / "split", 8, "fsdp=true", "stop_at=4")
    resumed = _torchrun(corpus, tmp_path / "split", 8, "fsdp=true")
    assert resumed["val_loss"] == whole["val_loss"] and resumed["train_loss"] == whole["train_loss"]
    state = torch.load(tmp_path / "whole" / "ckpt.pt", weights_only=False)
    model = Decoder(DecoderConfig.from_dict(state["model_config"]))
    model.load_state_dict(state["model"])  # strict: every tensor whole, none a shard
    assert len(state["batches"]) == 2  # each rank's sampler, for an exact resume


@pytest.mark.parametrize(
    ("content", "options", "expected"),
    [
        (b"", [], "empty"),
        (b"To be or not \xff\xfe to be", [], "UTF-8"),
        (b"Some text. " * 100, ["--size", "1b", "--set", "batch_size=64", "--set", "context=2048"], "GiB"),
    ],
)
def test_bad_input_is_refused_before_any_work(
    tmp_path: Path, content: bytes, options: list[str], expected: str
) -> None:
    data = tmp_path / "input.txt"
    data.write_bytes(content)
    out = tmp_path / "run"
    r = subprocess.run([*CLI, "train", "--data", str(data), "--out", str(out), "--steps", "5", *options],
                       capture_output=True, text=True, timeout=120)  # fmt: skip
    assert r.returncode == 2 and expected in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert not out.exists()  # nothing was written: no tokenizer, no token files
