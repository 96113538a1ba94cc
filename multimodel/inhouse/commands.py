"""CLI commands of the in-house pipeline: train · eval · export · register · plan."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import click
import yaml

from multimodel.clikit import die


@click.command()
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False, exists=True),
    default=None,
    help="YAML file of training options (the fields of TrainConfig); flags override it.",
)
@click.option(
    "--data", "data", multiple=True, type=click.Path(), help="Text or JSON Lines file (repeatable)."
)
@click.option("--out", "out_dir", default=None, help="Run directory (checkpoint, tokenizer, data).")
@click.option("--size", default=None, help="Model size: tiny, mini, small, 124m, 350m, 1b.")
@click.option("--steps", type=int, default=None)
@click.option("--init", default=None, help="Continue from a Hugging Face Llama checkpoint directory.")
@click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="KEY=VALUE",
    help="Any other option, e.g. --set lr=3e-4 --set model_overrides.n_layers=4.",
)
def train(config_file: str | None, data: tuple[str, ...], out_dir: str | None, size: str | None,
          steps: int | None, init: str | None, overrides: tuple[str, ...]) -> None:  # fmt: skip
    """Train (or resume) a model; under torchrun it trains on every process (DDP/FSDP2)."""
    from multimodel.inhouse.data import DataError
    from multimodel.inhouse.train import TrainConfig
    from multimodel.inhouse.train import train as run

    options: dict[str, Any] = yaml.safe_load(Path(config_file).read_text()) if config_file else {}
    for key, value in (("data", list(data) or None), ("out_dir", out_dir), ("size", size), ("steps", steps),
                       ("init", init)):  # fmt: skip
        if value is not None:
            options[key] = value
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep:
            die(f"--set {item!r}: expected KEY=VALUE")
        target = options
        *parents, leaf = key.split(".")
        for p in parents:
            target = target.setdefault(p, {})
        target[leaf] = yaml.safe_load(raw)
    if not options.get("data"):
        die("no training data: give --data FILE (or 'data' in --config)")
    try:
        cfg = TrainConfig.from_dict(options)
        metrics = run(cfg)
    except (DataError, ValueError, OSError) as e:
        die(str(e))
    if os.environ.get("RANK", "0") == "0":  # under torchrun, one report
        click.echo(json.dumps({k: v for k, v in metrics.items() if k != "data"}, indent=2))


@click.command(name="eval")
@click.argument("model_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--text", type=click.Path(exists=True, dir_okay=False), help="Perplexity on this text file.")
@click.option(
    "--prompts", type=click.Path(exists=True, dir_okay=False), help="Prompts (one per line, or JSONL)."
)
@click.option(
    "--answers",
    type=click.Path(dir_okay=False),
    default=None,
    help="Where to save the answers (default MODEL_DIR/answers.jsonl).",
)
@click.option("--max-tokens", type=int, default=64)
def evaluate(
    model_dir: str, text: str | None, prompts: str | None, answers: str | None, max_tokens: int
) -> None:
    """Evaluate an exported model: perplexity on a text, answers to a prompt set."""
    from multimodel.inhouse import evaluate as ev

    if not text and not prompts:
        die("nothing to evaluate: give --text FILE and/or --prompts FILE")
    result: dict[str, Any] = {}
    if text:
        result["text"] = ev.perplexity(Path(model_dir), Path(text))
    if prompts:
        out = Path(answers) if answers else Path(model_dir) / "answers.jsonl"
        result["answers"] = {"count": ev.answer_prompts(Path(model_dir), Path(prompts), out, max_tokens=max_tokens),
                             "file": str(out)}  # fmt: skip
    click.echo(json.dumps(result, indent=2))


@click.command()
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False))
@click.argument("out_dir", type=click.Path(file_okay=False))
@click.option("--dtype", type=click.Choice(["float32", "bfloat16"]), default="float32")
@click.option(
    "--checkpoint",
    type=click.Choice(["best", "last"]),
    default="best",
    help="best: the weights with the lowest validation loss (best.pt; ckpt.pt when there is none); last: ckpt.pt.",
)
def export(run_dir: str, out_dir: str, dtype: str, checkpoint: str) -> None:
    """Export a training run's checkpoint as a Hugging Face model directory."""
    import torch

    from multimodel.inhouse.export import export as do_export
    from multimodel.inhouse.model import Decoder, DecoderConfig

    ckpt = Path(run_dir) / "ckpt.pt"
    if checkpoint == "best" and (Path(run_dir) / "best.pt").is_file():
        ckpt = Path(run_dir) / "best.pt"
    if not ckpt.is_file():
        die(f"{run_dir}: no ckpt.pt (train first)")
    state = torch.load(ckpt, map_location="cpu", weights_only=False)
    model = Decoder(DecoderConfig.from_dict(state["model_config"]))
    model.load_state_dict(state["model"])
    cfg = state["config"]
    tokenizer_dir = (
        Path(cfg["init"]) if cfg.get("init") else Path(cfg.get("tokenizer") or Path(run_dir) / "tokenizer")
    )
    vals = [r["val_loss"] for r in state["history"] if "val_loss" in r]
    meta = {
        "training_config": cfg,
        "data": state["data"],
        "commit": _git_commit(),
        "metrics": {"steps": state["step"], "train_loss": state["history"][-1]["loss"] if state["history"] else None,
                    "val_loss": vals[-1] if vals else None, "best_val_loss": min(vals) if vals else None},
    }  # fmt: skip
    path = do_export(model, tokenizer_dir, Path(out_dir), meta=meta, dtype=dtype)
    click.echo(str(path))


def _git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


@click.command()
@click.argument("model_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--name", required=True, help="The public model name, e.g. house-small.")
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False),
    default="multimodel.yaml",
    help="The gateway config to add it to (created if missing).",
)
@click.option("--replace", is_flag=True, help="Replace a model of the same name.")
def register(model_dir: str, name: str, config_file: str, replace: bool) -> None:
    """Add an exported model directory to the gateway config as an `inhouse` model."""
    from multimodel.config.load import embedded_defaults
    from multimodel.config.schema import ConfigError, DeploymentConfig, parse
    from multimodel.providers.inhouse import InhouseProvider

    path = Path(config_file)
    model = str(Path(model_dir).resolve())
    entry = {"name": name, "provider": "inhouse", "model": model}
    problem = InhouseProvider.validate(DeploymentConfig(id=name, provider="inhouse", model=model))
    if problem:
        die(f"{model_dir}: {problem}")
    # A new file starts from the embedded defaults, keeping their house models.
    raw = (yaml.safe_load(path.read_text()) or {}) if path.is_file() else embedded_defaults({})
    models = raw.setdefault("models", [])
    existing = [i for i, m in enumerate(models) if isinstance(m, dict) and m.get("name") == name]
    if existing and not replace:
        die(f"{config_file}: a model named {name!r} exists already (use --replace)")
    for i in reversed(existing):
        models.pop(i)
    models.append(entry)
    try:  # the result must be a config the gateway starts with
        parse(raw, source=config_file)
    except ConfigError as e:
        die(str(e))
    tmp = path.with_suffix(".tmp")
    tmp.write_text(yaml.safe_dump(raw, sort_keys=False))
    tmp.replace(path)
    click.echo(f"registered {name} -> {model} in {config_file}")


COMMANDS = [train, evaluate, export, register]


@click.command()
@click.option(
    "--params", required=True, type=float, help="Parameters (dense), or total parameters of an MoE."
)
@click.option("--active-params", type=float, default=None, help="Active parameters per token (MoE).")
@click.option("--tokens", type=float, default=None, help="Training tokens (default: 20 per parameter).")
@click.option(
    "--gpu", default="H100", type=click.Choice(["H100", "H200", "B200", "A100"], case_sensitive=False)
)
@click.option("--mfu", type=float, default=None, help="Model FLOPs utilisation (default 0.40, or measured).")
@click.option("--gpus", type=int, default=None, help="Cluster size for the wall-clock estimate.")
@click.option(
    "--deadline-days", type=float, default=None, help="GPUs needed to finish within this many days."
)
@click.option("--layers", type=int, default=None, help="For the attention term (with --dim and --seq-len).")
@click.option("--dim", type=int, default=None)
@click.option("--seq-len", type=int, default=None)
@click.option("--requests-per-s", type=float, default=None, help="Serving load.")
@click.option("--tokens-per-request", type=float, default=None)
@click.option("--tokens-per-s-per-gpu", type=float, default=None, help="Measured or assumed serving speed.")
@click.option(
    "--cluster-gpus", type=int, default=None, help="Split this cluster between training and serving."
)
def plan(**kw: Any) -> None:
    """Plan the compute of a training run (and its serving): FLOPs, GPU-hours, days, cluster size."""
    from multimodel.inhouse import plan as planner

    try:
        p = planner.make_plan(
            kw["params"], active_params=kw["active_params"], tokens=kw["tokens"], gpu=kw["gpu"],
            mfu=kw["mfu"] if kw["mfu"] is not None else planner.DEFAULT_MFU, gpus=kw["gpus"],
            deadline_days=kw["deadline_days"], n_layers=kw["layers"], d_model=kw["dim"], seq_len=kw["seq_len"],
            requests_per_s=kw["requests_per_s"], tokens_per_request=kw["tokens_per_request"],
            tokens_per_s_per_gpu=kw["tokens_per_s_per_gpu"], cluster_gpus=kw["cluster_gpus"],
        )  # fmt: skip
    except ValueError as e:
        die(str(e))
    click.echo(planner.format_plan(p))


COMMANDS.append(plan)
