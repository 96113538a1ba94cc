"""Compute planning arithmetic, and the numbers docs/compute-planning.md quotes from it."""

from __future__ import annotations

from pathlib import Path

import pytest

from multimodel.inhouse import plan

DOC = Path(__file__).resolve().parents[2] / "docs" / "compute-planning.md"


def test_6nd_for_gpt2_small_at_chinchilla() -> None:
    p = plan.make_plan(124e6)  # tokens default to 20 per parameter: 2.48B
    assert p.tokens == pytest.approx(2.48e9)
    assert p.flops == pytest.approx(1.84512e18)  # 6 × 124e6 × 2.48e9
    assert p.gpu_hours == pytest.approx(1.84512e18 / (989e12 * 0.4) / 3600)


def test_attention_term() -> None:
    flops = plan.training_flops(124e6, 1e9, n_layers=12, d_model=768, seq_len=1024)
    assert flops == pytest.approx(6 * 124e6 * 1e9 + 12 * 12 * 768 * 1024 * 1e9)
    assert plan.training_flops(124e6, 1e9, n_layers=12) == pytest.approx(6 * 124e6 * 1e9)


def test_mixture_of_experts_uses_active_parameters_for_flops() -> None:
    p = plan.make_plan(1e12, active_params=1e11)
    assert p.tokens == pytest.approx(20e12)  # 20 per total parameter
    assert p.flops == pytest.approx(6 * 1e11 * 20e12)


@pytest.mark.parametrize("flops", [1.84512e18, 3.8e25, 1e22, 2.5e24])
@pytest.mark.parametrize("days", [0.5, 1, 30, 90])
def test_deadline_inverts_wall_clock(flops: float, days: float) -> None:
    n = plan.gpus_for_deadline(flops, "H100", days)
    assert plan.wall_clock_days(flops, "H100", n) <= days
    if n > 1:
        assert plan.wall_clock_days(flops, "H100", n - 1) > days


def test_exact_fit_is_not_rounded_up() -> None:
    flops = plan.cluster_flops("A100", 3, 10)
    assert plan.gpus_for_deadline(flops, "A100", 10) == 3


def test_chinchilla_optimal_spends_the_budget() -> None:
    n, d = plan.chinchilla_optimal(1e24)
    assert d == pytest.approx(20 * n)
    assert plan.training_flops(n, d) == pytest.approx(1e24)


def test_serving_and_cluster_split() -> None:
    assert plan.serving_gpus(10, 500, 2000) == 3  # 5,000 tokens/s at 2,000 per GPU
    p = plan.make_plan(
        1e9, requests_per_s=10, tokens_per_request=500, tokens_per_s_per_gpu=2000, cluster_gpus=10
    )
    assert (p.serving_gpus, p.training_gpus) == (3, 7)
    assert p.training_days == pytest.approx(plan.wall_clock_days(p.flops, "H100", 7))
    text = plan.format_plan(p)
    assert "5,000 tokens/s at 2,000 per GPU: 3 GPUs" in text
    assert "10 GPUs = 3 serving + 7 training" in text
    crowded = plan.make_plan(
        1e9, requests_per_s=10, tokens_per_request=500, tokens_per_s_per_gpu=2000, cluster_gpus=2
    )
    assert crowded.training_days is None
    assert "serving alone needs 3" in plan.format_plan(crowded)


def test_training_memory_formula() -> None:
    parts = plan.training_memory_bytes(
        1000, 2, 3, n_layers=1, d_model=4, vocab_size=10, bytes_per_activation=4
    )
    assert parts == {"states": 16_000, "activations": 17 * 1 * 6 * 4 * 4, "logits": 2 * 4 * 6 * 10}
    assert plan.training_memory_bytes(int(1e12), 1, 1)["states"] == 16 * 10**12


def test_unknown_gpu() -> None:
    with pytest.raises(ValueError, match="unknown GPU 'V100'"):
        plan.make_plan(1e9, gpu="V100")


def test_the_docs_quote_the_code() -> None:
    doc = DOC.read_text(encoding="utf-8")
    assert plan.cluster_table([15_000, 100_000, 150_000]) in doc
    assert plan.cluster_table([15_000, 100_000, 150_000], gpu="B200") in doc
    assert "| 15,000 | 1.54e+25 | 358B | 7.16T | 6.41T | 16 | 74.1 |" in doc  # one month of 15k H100s
    llama = plan.make_plan(
        405e9, tokens=15.6e12, gpus=16_384, deadline_days=30, n_layers=126, d_model=16_384, seq_len=8192
    )
    assert plan.format_plan(llama) in doc
    assert plan.format_plan(plan.make_plan(124e6, gpus=8, deadline_days=1)) in doc
