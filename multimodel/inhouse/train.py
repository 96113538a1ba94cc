"""Training: one function, `train(cfg)`, the same on a laptop CPU and under `torchrun` on GPUs.

Single process by default; under `torchrun` (RANK/WORLD_SIZE set) it joins the process group
(NCCL on GPUs, gloo on CPUs) and wraps the model in DDP, or FSDP2 with `fsdp=True`: PyTorch's own
engines, no home-made communication. A checkpoint holds everything a run's future depends on
(weights, optimizer, step, the batch sampler's RNG), so a resumed run continues bit for bit.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import torch

from multimodel.inhouse import data as data_mod
from multimodel.inhouse import tokenizer as tok_mod
from multimodel.inhouse.model import Decoder, DecoderConfig, config_for, pad_vocab
from multimodel.inhouse.plan import GPU_PEAK_FLOPS


@dataclass
class TrainConfig:
    data: list[str]  # text or JSON Lines files
    out_dir: str = "runs/house"
    tokenizer: str | None = None  # an existing tokenizer directory; else one is trained into out_dir
    tokenizer_kind: str = "bpe"  # "bpe" (byte-fallback BPE) | "char" (character level)
    vocab_size: int = 512  # for a BPE tokenizer trained here
    size: str = "tiny"  # a named size of model.SIZES
    model_overrides: dict[str, Any] = field(default_factory=dict)  # e.g. {"n_layers": 4, "dim": 128}
    init: str | None = None  # a Hugging Face Llama checkpoint to continue from (fine-tuning)
    context: int = 256
    batch_size: int = 16  # sequences per micro-batch per process
    grad_accum: int = 1
    steps: int = 1000
    lr: float = 1e-3
    min_lr: float | None = None  # default lr / 10
    warmup: int = 100
    weight_decay: float = 0.1
    beta2: float = 0.95  # AdamW's second-moment decay; small batches want 0.99 (nanoGPT's char recipe)
    grad_clip: float = 1.0
    eval_interval: int = 250
    eval_iters: int = 20
    checkpoint_interval: int = 500
    val_fraction: float = 0.1
    seed: int = 1337
    device: str = "auto"
    dtype: str = "auto"  # "auto": bfloat16 autocast on GPU, float32 on CPU
    compile: bool = False
    fsdp: bool = False
    progress: bool = True
    log_interval: int = 10  # steps between reads of the loss from the device (each read waits for it)
    stop_at: int | None = None  # end this invocation after that step (checkpointed), as if interrupted

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown training option {sorted(unknown)[0]!r}")
        return cls(**d)


@dataclass
class Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0


@contextmanager
def _distributed(device: str) -> Iterator[Dist]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        yield Dist()
        return
    import torch.distributed as dist

    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if device.startswith("cuda"):
        # NCCL's own collectives (barriers, object gathers) run on the current device: without
        # this every rank would use GPU 0.
        torch.cuda.set_device(local_rank)
    dist.init_process_group(backend="nccl" if device.startswith("cuda") else "gloo")
    try:
        yield Dist(dist.get_rank(), world, local_rank)
    finally:
        dist.destroy_process_group()


def _barrier(d: Dist) -> None:
    if d.world > 1:
        import torch.distributed as dist

        dist.barrier()


def lr_at(step: int, cfg: TrainConfig) -> float:
    """Linear warm-up, then cosine decay to min_lr at the last step."""
    min_lr = cfg.min_lr if cfg.min_lr is not None else cfg.lr / 10
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    progress = (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup)
    return min_lr + 0.5 * (1 + math.cos(math.pi * min(progress, 1.0))) * (cfg.lr - min_lr)


def _device(cfg: TrainConfig, d: Dist) -> str:
    if cfg.device != "auto":
        return cfg.device
    return f"cuda:{d.local_rank}" if torch.cuda.is_available() else "cpu"


def peak_flops(device: str) -> float | None:
    if not device.startswith("cuda"):
        return None
    name = torch.cuda.get_device_name(device)
    return next((v for k, v in GPU_PEAK_FLOPS.items() if k in name), None)


def _tokenizer_dir(cfg: TrainConfig, out: Path, d: Dist) -> Path:
    if cfg.init:
        return Path(cfg.init)
    if cfg.tokenizer:
        return Path(cfg.tokenizer)
    tok_dir = out / "tokenizer"
    if d.main and not (tok_dir / "tokenizer.json").is_file():
        paths = [Path(p) for p in cfg.data]
        if cfg.tokenizer_kind == "char":
            tok_mod.char_tokenizer("".join(data_mod.iter_texts(paths)), tok_dir)
        else:
            tok_mod.train_bpe(data_mod.iter_texts(paths), cfg.vocab_size, tok_dir)
    _barrier(d)
    return tok_dir


def model_config(cfg: TrainConfig, vocab: int) -> DecoderConfig:
    """The model's shape, known before any weight is allocated (so memory is checked first)."""
    if cfg.init:
        from multimodel.inhouse.hf import decoder_config

        return decoder_config(json.loads((Path(cfg.init) / "config.json").read_text()), cfg.context)
    overrides = dict(cfg.model_overrides)
    # A larger embedding table than the tokenizer needs is allowed (e.g. GPT-2's padded 50304).
    vocab = max(vocab, int(overrides.pop("vocab_size", 0)))
    return config_for(cfg.size, pad_vocab(vocab), cfg.context, **overrides)


def _check_memory(mc: DecoderConfig, cfg: TrainConfig, device: str) -> None:
    data_mod.check_fits_memory(mc.num_params(), cfg.batch_size, cfg.context, n_layers=mc.n_layers,
                               d_model=mc.dim, vocab_size=mc.vocab_size, device=device)  # fmt: skip


def build_model(cfg: TrainConfig, mc: DecoderConfig) -> Decoder:
    if cfg.init:
        from multimodel.inhouse.hf import from_hf

        return from_hf(Path(cfg.init), max_seq_len=cfg.context)
    return Decoder(mc)


@torch.no_grad()
def evaluate(
    model: torch.nn.Module, info: data_mod.DataInfo, cfg: TrainConfig, device: str, ctx: Any
) -> float:
    """Mean validation loss over eval_iters batches drawn with a fixed seed: every evaluation of a
    run (and of a resumed run) sees the same batches, and training's own RNG is left alone."""
    model.eval()
    batches = data_mod.TokenBatches(info, "val", cfg.batch_size, cfg.context, seed=cfg.seed + 999)
    total = 0.0
    for _ in range(cfg.eval_iters):
        x, y = batches.next()
        with ctx:
            _, loss = model(x.to(device), y.to(device))
        total += float(loss)
    model.train()
    return total / cfg.eval_iters


def train(cfg: TrainConfig) -> dict[str, Any]:
    """Run (or resume) training; returns the final metrics. Bad input fails before any work."""
    paths = [Path(p) for p in cfg.data]
    data_mod.validate_inputs(paths)
    out = Path(cfg.out_dir)
    torch.manual_seed(cfg.seed)
    device = _device(cfg, Dist())
    _check_memory(model_config(cfg, cfg.vocab_size), cfg, device)  # before any tokenizer or data work
    with _distributed(device) as d:
        device = _device(cfg, d)
        out.mkdir(parents=True, exist_ok=True)
        tok_dir = _tokenizer_dir(cfg, out, d)
        tokenizer = tok_mod.load(tok_dir)
        # Rank 0 tokenises; the others then find its files and reuse them.
        if d.main:
            info = data_mod.prepare(paths, tokenizer, out / "data", cfg.val_fraction)
        _barrier(d)
        if not d.main:
            info = data_mod.prepare(paths, tokenizer, out / "data", cfg.val_fraction)

        mc = model_config(cfg, len(tokenizer))
        _check_memory(mc, cfg, device)
        raw = build_model(cfg, mc)
        raw.to(device)
        model: torch.nn.Module = raw
        ckpt_path = out / "ckpt.pt"
        state = torch.load(ckpt_path, map_location="cpu", weights_only=False) if ckpt_path.is_file() else None
        if state is not None:
            raw.load_state_dict(state["model"])
        if d.world > 1:
            model = _wrap(model, cfg, device)
        wrapped = model
        if cfg.compile:
            model = torch.compile(model)  # type: ignore[assignment]  # compiled modules keep the Module API
        optimizer = raw.configure_optimizer(
            cfg.lr, cfg.weight_decay, (0.9, cfg.beta2), fused=device.startswith("cuda")
        )
        batches = data_mod.TokenBatches(info, "train", cfg.batch_size, cfg.context, cfg.seed, d.rank, d.world)
        start, history = 0, []
        if state is not None:
            if len(state["batches"]) != d.world:
                raise ValueError(f"{ckpt_path} was written by {len(state['batches'])} processes; "
                                 f"resume it with as many, not {d.world}")  # fmt: skip
            _load_optimizer(wrapped, optimizer, state["optimizer"], cfg, d)
            batches.load_state_dict(state["batches"][d.rank])
            start, history = state["step"], state["history"]

        use_bf16 = cfg.dtype == "bfloat16" or (cfg.dtype == "auto" and device.startswith("cuda"))
        ctx = torch.autocast(device.split(":")[0], dtype=torch.bfloat16) if use_bf16 else nullcontext()
        tokens_per_step = cfg.batch_size * cfg.context * cfg.grad_accum * d.world
        flops_per_token = raw.flops_per_token(cfg.context)
        peak = peak_flops(device)
        progress = _progress(cfg, start, d)
        loss_value, tok_s, mfu = float("nan"), 0.0, None
        best_val = min((r["val_loss"] for r in history if "val_loss" in r), default=math.inf)
        # Losses stay on the device until a flush: reading one waits for the GPU, and a wait every
        # step leaves it idle while Python prepares the next. Time spent evaluating and saving is
        # left out of tokens/s, and so are the first steps (compilation, warm-up).
        pending: list[tuple[dict[str, Any], torch.Tensor]] = []
        skip = min(10, (cfg.steps - start) // 5)
        clock = _Clock(skip)
        for step in range(start, cfg.steps):
            for group in optimizer.param_groups:
                group["lr"] = lr_at(step, cfg)
            loss_sum = torch.zeros((), device=device)
            for micro in range(cfg.grad_accum):
                x, y = batches.next()
                sync = micro == cfg.grad_accum - 1 or d.world == 1
                # DDP: all-reduce gradients only on the last micro-batch of a step.
                no_sync = getattr(model, "no_sync", None)
                with ctx, nullcontext() if sync or no_sync is None else no_sync():
                    _, loss = model(_to(x, device), _to(y, device))
                    loss = loss / cfg.grad_accum
                loss.backward()
                loss_sum += loss.detach()
            if cfg.grad_clip:
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            record: dict[str, Any] = {"step": step + 1}
            history.append(record)
            pending.append((record, loss_sum))
            last = step + 1 == cfg.steps
            stopping = cfg.stop_at is not None and step + 1 >= cfg.stop_at
            evaluating = (step + 1) % cfg.eval_interval == 0 or last
            saving = (step + 1) % cfg.checkpoint_interval == 0 or last or stopping
            if evaluating or saving or (step + 1 - start) % cfg.log_interval == 0 or step + 1 - start == skip:
                flushed = _flush(pending, d)
                loss_value = flushed[-1]["loss"]
                tok_s = clock.tick(step + 1 - start, tokens_per_step)
                mfu = flops_per_token * tok_s / (peak * d.world) if peak else None
                for r in flushed:
                    r["tokens_per_s"] = tok_s
                if progress is not None:
                    progress.set_postfix(_postfix(record, history, mfu))
            if progress is not None:
                progress.update(1)
            if not (evaluating or saving):
                continue
            with clock.paused():
                if evaluating:
                    record["val_loss"] = evaluate(model, info, cfg, device, ctx)
                    if progress is not None:
                        progress.set_postfix(_postfix(record, history, mfu))
                if record.get("val_loss", math.inf) < best_val:  # every rank sees the same loss: collective
                    best_val = record["val_loss"]
                    weights = _model_state(wrapped, raw, cfg, d)
                    if d.main:
                        _save(out / "best.pt", (weights, None, None), step + 1, history, cfg, raw, info)
                if saving:  # collective under torchrun
                    states = _states(wrapped, raw, optimizer, batches, cfg, d)
                    if d.main:
                        _save(ckpt_path, states, step + 1, history, cfg, raw, info)
            if stopping:
                break
        if progress is not None:
            progress.close()
        vals = [r["val_loss"] for r in history if "val_loss" in r]
        return {
            "steps": history[-1]["step"] if history else start,
            "train_loss": loss_value,
            "val_loss": vals[-1] if vals else None,
            "best_val_loss": min(vals) if vals else None,
            "tokens_per_s": tok_s,
            "mfu": mfu,
            "parameters": raw.num_params(),
            "data": info.to_dict() | {"train_path": str(info.train_path), "val_path": str(info.val_path)},
        }


def _wrap(model: torch.nn.Module, cfg: TrainConfig, device: str) -> torch.nn.Module:
    if cfg.fsdp:
        from torch.distributed.fsdp import fully_shard

        for block in model.layers:  # type: ignore[union-attr]
            fully_shard(block)
        fully_shard(model)
        return model
    from torch.nn.parallel import DistributedDataParallel

    return DistributedDataParallel(model, device_ids=[int(device.split(":")[1])] if ":" in device else None)


def _to(t: torch.Tensor, device: str) -> torch.Tensor:
    """Host-to-GPU copies from pinned memory run alongside the GPU's work instead of before it."""
    if device.startswith("cuda"):
        return t.pin_memory().to(device, non_blocking=True)
    return t.to(device)


def _flush(pending: list[tuple[dict[str, Any], torch.Tensor]], d: Dist) -> list[dict[str, Any]]:
    """Write the pending steps' losses (averaged over processes) into their records, in one read
    from the device; returns those records."""
    losses = torch.stack([loss for _, loss in pending]).float()
    if d.world > 1:
        import torch.distributed as dist

        dist.all_reduce(losses, op=dist.ReduceOp.SUM)  # SUM: gloo has no AVG
        losses /= d.world
    records = [record for record, _ in pending]
    for record, value in zip(records, losses.tolist(), strict=True):
        record["loss"] = value
    pending.clear()
    return records


class _Clock:
    """Steady-state tokens/s: counted from the flush at step `skip` (the steps before it carry
    compilation and warm-up), leaving out the time spent in `paused()` (evaluation, checkpoints)."""

    def __init__(self, skip: int) -> None:
        self.skip, self.mark, self.mark_steps, self.paused_s = skip, time.perf_counter(), 0, 0.0

    def tick(self, done: int, tokens_per_step: int) -> float:
        """Tokens/s so far; called right after a flush, when the device has caught up."""
        now = time.perf_counter()
        rate = tokens_per_step * (done - self.mark_steps) / max(now - self.mark - self.paused_s, 1e-9)
        if done == self.skip and self.mark_steps == 0:  # warm-up over: count from here on
            self.mark, self.mark_steps, self.paused_s = now, done, 0.0
        return rate

    @contextmanager
    def paused(self) -> Iterator[None]:
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.paused_s += time.perf_counter() - t0


def _states(model: torch.nn.Module, raw: Decoder, optimizer: torch.optim.Optimizer, batches: Any, cfg: TrainConfig,
            d: Dist) -> tuple[dict[str, Any], dict[str, Any], list[Any]]:  # fmt: skip
    """Whole (unsharded) model and optimizer states, and every rank's batch sampler state.
    Under torchrun every rank must call this: it gathers."""
    samplers: list[Any] = [batches.state_dict()]
    if d.world == 1:
        return raw.state_dict(), optimizer.state_dict(), samplers
    import torch.distributed as dist

    samplers = [None] * d.world
    dist.all_gather_object(samplers, batches.state_dict())
    if not cfg.fsdp:
        return raw.state_dict(), optimizer.state_dict(), samplers
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_optimizer_state_dict

    opts = StateDictOptions(full_state_dict=True, cpu_offload=True)
    return (
        _model_state(model, raw, cfg, d),
        get_optimizer_state_dict(model, optimizer, options=opts),
        samplers,
    )


def _model_state(model: torch.nn.Module, raw: Decoder, cfg: TrainConfig, d: Dist) -> dict[str, Any]:
    """The whole (unsharded) model state; under FSDP every rank must call this: it gathers."""
    if d.world == 1 or not cfg.fsdp:
        return raw.state_dict()
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

    return get_model_state_dict(model, options=StateDictOptions(full_state_dict=True, cpu_offload=True))


def _load_optimizer(model: torch.nn.Module, optimizer: torch.optim.Optimizer, state: dict[str, Any], cfg: TrainConfig,
                    d: Dist) -> None:  # fmt: skip
    if not (cfg.fsdp and d.world > 1):
        optimizer.load_state_dict(state)
        return
    from torch.distributed.checkpoint.state_dict import StateDictOptions, set_optimizer_state_dict

    set_optimizer_state_dict(model, optimizer, state, options=StateDictOptions(full_state_dict=True))


def _save(path: Path, states: tuple[dict[str, Any], dict[str, Any] | None, list[Any] | None], step: int,
          history: list[dict[str, Any]], cfg: TrainConfig, raw: Decoder, info: data_mod.DataInfo) -> None:  # fmt: skip
    """ckpt.pt: everything a resume needs; best.pt (no optimizer or samplers): the weights of the
    lowest validation loss so far, which `multimodel export` takes by default."""
    model_state, optimizer_state, samplers = states
    state = {
        "model": model_state,
        **({"optimizer": optimizer_state, "batches": samplers} if optimizer_state is not None else {}),
        "step": step,
        "history": history,
        "config": asdict(cfg),
        "model_config": raw.cfg.to_dict(),
        "data": info.to_dict() | {"train_path": str(info.train_path), "val_path": str(info.val_path)},
    }
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)  # a crash mid-save never leaves a torn checkpoint


def _progress(cfg: TrainConfig, start: int, d: Dist) -> Any:
    if not (cfg.progress and d.main):
        return None
    from tqdm import tqdm

    return tqdm(total=cfg.steps, initial=start, desc="train", unit="step", dynamic_ncols=True)


def _postfix(record: dict[str, Any], history: list[dict[str, Any]], mfu: float | None) -> dict[str, str]:
    post = {"loss": f"{record['loss']:.4f}", "tok/s": f"{record['tokens_per_s']:,.0f}"}
    post["mfu"] = f"{mfu:.1%}" if mfu is not None else "n/a"
    vals = [r["val_loss"] for r in history if "val_loss" in r]
    if vals:
        post["val"] = f"{vals[-1]:.4f}"
    return post
