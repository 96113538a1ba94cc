"""Compute planning: what a training run costs in FLOPs, GPU-hours and days, and how many GPUs a
serving load takes. Pure arithmetic; docs/compute-planning.md explains each formula.

Conventions: `params` counts every parameter; for a mixture of experts `active_params` is what one
token passes through, and FLOPs use it. FLOPs are dense BF16 tensor-core FLOPs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

# Dense BF16 tensor-core peaks, FLOP/s. NVIDIA's datasheets headline the 2:4-sparsity figure,
# twice the dense one; training uses the dense one.
GPU_PEAK_FLOPS: dict[str, float] = {
    "H100": 989e12,  # H100 SXM5 datasheet: 1,979 TFLOPS BF16 "with sparsity"
    "H200": 989e12,  # H200 SXM datasheet: 1,979 TFLOPS BF16 with sparsity (H100's compute, more HBM)
    "B200": 2250e12,  # HGX B200 datasheet: 4.5 PFLOPS FP16/BF16 per GPU with sparsity
    "A100": 312e12,  # A100 datasheet: 312 TFLOPS BF16 dense (624 with sparsity)
}
TOKENS_PER_PARAM = 20  # Hoffmann et al. 2022 ("Chinchilla"): compute-optimal D ≈ 20·N
DEFAULT_MFU = 0.4  # Llama 3 405B reports 38-43% BF16 MFU on 8-16k H100s
DAY = 86_400.0


def peak_flops(gpu: str) -> float:
    try:
        return GPU_PEAK_FLOPS[gpu.upper()]
    except KeyError:
        raise ValueError(f"unknown GPU {gpu!r}; choose one of: {', '.join(GPU_PEAK_FLOPS)}") from None


def chinchilla_tokens(params: float) -> float:
    return TOKENS_PER_PARAM * params


def attention_flops_per_token(n_layers: int, d_model: int, seq_len: int) -> float:
    """12·L·d·T: the QKᵀ and attention·V matmuls (2·T·d multiply-adds each, per layer), ×2 FLOPs
    per multiply-add, ×3 for forward + backward. Causal masking is not subtracted (MFU convention)."""
    return 12.0 * n_layers * d_model * seq_len


def training_flops(
    active_params: float,
    tokens: float,
    *,
    n_layers: int | None = None,
    d_model: int | None = None,
    seq_len: int | None = None,
) -> float:
    """6·N·D, plus the attention term 12·L·d·T·D when the shape is given."""
    flops = 6.0 * active_params * tokens
    if n_layers and d_model and seq_len:
        flops += attention_flops_per_token(n_layers, d_model, seq_len) * tokens
    return flops


def cluster_flops(gpu: str, n_gpus: int, days: float, mfu: float = DEFAULT_MFU) -> float:
    """FLOPs `n_gpus` deliver in `days` at `mfu` (no downtime)."""
    return peak_flops(gpu) * mfu * n_gpus * days * DAY


def gpu_hours(flops: float, gpu: str, mfu: float = DEFAULT_MFU) -> float:
    return flops / (peak_flops(gpu) * mfu) / 3600.0


def wall_clock_days(flops: float, gpu: str, n_gpus: int, mfu: float = DEFAULT_MFU) -> float:
    return flops / cluster_flops(gpu, n_gpus, 1.0, mfu)


def gpus_for_deadline(flops: float, gpu: str, days: float, mfu: float = DEFAULT_MFU) -> int:
    """The fewest GPUs that finish `flops` within `days`."""
    # The factor absorbs float rounding, so an exact fit (3.0000000001 GPUs) is not one GPU more.
    return max(1, math.ceil(flops / cluster_flops(gpu, 1, days, mfu) * (1 - 1e-12)))


def chinchilla_optimal(flops: float) -> tuple[float, float]:
    """(params, tokens) of the compute-optimal dense model for `flops`: C = 6·N·D with D = 20·N."""
    params = math.sqrt(flops / (6.0 * TOKENS_PER_PARAM))
    return params, TOKENS_PER_PARAM * params


def tokens_for(flops: float, active_params: float) -> float:
    """Tokens a model of `active_params` can train on with `flops`."""
    return flops / (6.0 * active_params)


def serving_gpus(requests_per_s: float, tokens_per_request: float, tokens_per_s_per_gpu: float) -> int:
    """GPUs to sustain a load, from a per-GPU throughput (measured, or assumed)."""
    return max(1, math.ceil(requests_per_s * tokens_per_request / tokens_per_s_per_gpu))


@dataclass(frozen=True)
class Plan:
    params: float
    active_params: float
    tokens: float
    gpu: str
    mfu: float
    flops: float
    attention_flops: float
    gpu_hours: float
    gpus: int | None = None
    days: float | None = None  # on `gpus`
    deadline_days: float | None = None
    gpus_for_deadline: int | None = None
    serving_load: float | None = None  # tokens/s asked of the serving fleet
    tokens_per_s_per_gpu: float | None = None
    serving_gpus: int | None = None
    cluster_gpus: int | None = None
    training_gpus: int | None = None  # the cluster less its serving share
    training_days: float | None = None  # on `training_gpus`


def make_plan(
    params: float,
    *,
    active_params: float | None = None,
    tokens: float | None = None,
    gpu: str = "H100",
    mfu: float = DEFAULT_MFU,
    gpus: int | None = None,
    deadline_days: float | None = None,
    n_layers: int | None = None,
    d_model: int | None = None,
    seq_len: int | None = None,
    requests_per_s: float | None = None,
    tokens_per_request: float | None = None,
    tokens_per_s_per_gpu: float | None = None,
    cluster_gpus: int | None = None,
) -> Plan:
    """A training (and optionally serving) plan. `tokens` defaults to 20 per parameter (total)."""
    if params <= 0 or not 0 < mfu <= 1:
        raise ValueError("params must be positive and mfu in (0, 1]")
    gpu = gpu.upper()
    peak_flops(gpu)
    active = active_params if active_params is not None else params
    tokens = tokens if tokens is not None else chinchilla_tokens(params)
    flops = training_flops(active, tokens, n_layers=n_layers, d_model=d_model, seq_len=seq_len)
    plan = Plan(
        params=params,
        active_params=active,
        tokens=tokens,
        gpu=gpu,
        mfu=mfu,
        flops=flops,
        attention_flops=flops - 6.0 * active * tokens,
        gpu_hours=gpu_hours(flops, gpu, mfu),
        gpus=gpus,
        days=wall_clock_days(flops, gpu, gpus, mfu) if gpus else None,
        deadline_days=deadline_days,
        gpus_for_deadline=gpus_for_deadline(flops, gpu, deadline_days, mfu) if deadline_days else None,
    )
    if requests_per_s is None or tokens_per_request is None or tokens_per_s_per_gpu is None:
        return plan
    serving = serving_gpus(requests_per_s, tokens_per_request, tokens_per_s_per_gpu)
    training = cluster_gpus - serving if cluster_gpus is not None else None
    return Plan(
        **{
            **plan.__dict__,
            "serving_load": requests_per_s * tokens_per_request,
            "tokens_per_s_per_gpu": tokens_per_s_per_gpu,
            "serving_gpus": serving,
            "cluster_gpus": cluster_gpus,
            "training_gpus": training,
            "training_days": wall_clock_days(flops, gpu, training, mfu)
            if training and training > 0
            else None,
        }
    )


def format_plan(plan: Plan) -> str:
    moe = "" if plan.active_params == plan.params else f" ({_n(plan.active_params)} active)"
    lines = [
        f"model        {_n(plan.params)} parameters{moe}, {_n(plan.tokens)} tokens"
        f" ({plan.tokens / plan.params:.1f} per parameter)",
        f"FLOPs        {plan.flops:.3g}"
        + (
            f" (attention {plan.attention_flops:.3g})"
            if plan.attention_flops
            else " (6·N·D; no attention term)"
        ),
        f"GPU          {plan.gpu}: {peak_flops(plan.gpu) / 1e12:,.0f} TFLOP/s dense BF16 peak, MFU {plan.mfu:.0%}",
        f"GPU-hours    {plan.gpu_hours:,.0f}"
        if plan.gpu_hours >= 10
        else f"GPU-hours    {plan.gpu_hours:.3g}",
    ]
    if plan.gpus and plan.days is not None:
        lines.append(f"wall clock   {_days(plan.days)} on {_gpus(plan.gpus)}")
    if plan.deadline_days and plan.gpus_for_deadline:
        lines.append(
            f"deadline     {_gpus(plan.gpus_for_deadline)} to finish within {_days(plan.deadline_days)}"
        )
    if plan.serving_gpus is not None and plan.serving_load is not None and plan.tokens_per_s_per_gpu:
        lines.append(
            f"serving      {plan.serving_load:,.0f} tokens/s at {plan.tokens_per_s_per_gpu:,.0f} per GPU:"
            f" {_gpus(plan.serving_gpus)}"
        )
    if plan.cluster_gpus is not None and plan.training_gpus is not None:
        if plan.training_days is None:
            lines.append(
                f"cluster      {_gpus(plan.cluster_gpus)}: serving alone needs {plan.serving_gpus:,}"
            )
        else:
            lines.append(
                f"cluster      {_gpus(plan.cluster_gpus)} = {plan.serving_gpus:,} serving + "
                f"{plan.training_gpus:,} training: {_days(plan.training_days)}"
            )
    return "\n".join(lines)


def cluster_table(
    gpu_counts: list[int],
    *,
    gpu: str = "H100",
    days: float = 30,
    mfu: float = DEFAULT_MFU,
    params: float = 400e9,
    run_flops: float = 3.8e25,
) -> str:
    """A Markdown table of what each cluster size buys in `days`: the compute-optimal model, the
    tokens a `params` model gets, and the days a `run_flops` run takes (docs/compute-planning.md)."""
    rows = [
        f"| GPUs ({gpu.upper()}) | FLOPs in {days:g} days | Chinchilla-optimal model | its tokens"
        f" | tokens for a {_n(params)} model | tokens per parameter | days for {run_flops:.3g} FLOPs |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for n in gpu_counts:
        flops = cluster_flops(gpu, n, days, mfu)
        best, best_tokens = chinchilla_optimal(flops)
        fixed = tokens_for(flops, params)
        rows.append(
            f"| {n:,} | {flops:.3g} | {_n(best)} | {_n(best_tokens)} | {_n(fixed)} | {fixed / params:.0f}"
            f" | {wall_clock_days(run_flops, gpu, n, mfu):.3g} |"
        )
    return "\n".join(rows)


def _n(x: float) -> str:
    """124M, 2.48B, 7.16T: three significant figures."""
    for scale, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(x) >= scale:
            return f"{x / scale:.3g}{suffix}"
    return f"{x:.3g}"


def _days(days: float) -> str:
    if days < 1:
        return f"{days * 24:.2g} hours"
    text = f"{days:.3g}" if days < 100 else f"{days:,.0f}"
    return f"{text} day" + ("" if text == "1" else "s")


def _gpus(n: int) -> str:
    return f"{n:,} GPU" + ("" if n == 1 else "s")


def training_memory_bytes(
    n_params: int,
    batch_size: int,
    block_size: int,
    *,
    n_layers: int | None = None,
    d_model: int | None = None,
    vocab_size: int = 32_000,
    bytes_per_activation: int = 4,
) -> dict[str, int]:
    """A rough peak memory of one training step, by part (bytes). See docs/compute-planning.md.

    - states: 16 bytes per parameter (fp32 weights, gradients, AdamW's two moments);
    - activations: 17 values per layer per token per model dimension (Korthikanti et al. 2022,
      "Reducing Activation Recomputation in Large Transformer Models": 34·d bytes at 2 bytes a
      value, without the T² attention-score term that fused attention never stores);
    - logits: B·T·V at fp32, twice (the logits and the log-softmax cross-entropy keeps).

    Without a shape, one is assumed from the parameter count: d = 64·L (nanochat's aspect ratio)
    and N = 12·L·d², that is L = (N / 49152)^(1/3).
    """
    if n_layers is None or d_model is None:
        n_layers = max(1, round((n_params / 49152) ** (1 / 3)))
        d_model = 64 * n_layers
    tokens = batch_size * block_size
    return {
        "states": 16 * n_params,
        "activations": 17 * n_layers * tokens * d_model * bytes_per_activation,
        "logits": 2 * 4 * tokens * vocab_size,
    }
