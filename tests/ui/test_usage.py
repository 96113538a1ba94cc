"""The usage page in a real browser, with traffic behind it: totals, and plots whose marks match
the API's numbers (one bar per bucket and model with traffic, one point per bucket and
percentile with timings, one bar per error type), for each range and metric chosen."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
from playwright.sync_api import Page, expect

from tests.fakes.upstream import Fail, FakeUpstream, Reply
from tests.ui.conftest import screenshot
from tests.ui.seed import chat, wait_for_usage

METRICS = {
    "requests": lambda t: t["requests"],
    "tokens": lambda t: t["input_tokens"] + t["output_tokens"],
    "cost_usd": lambda t: t["cost_usd"],
}


def bars(summary: dict[str, Any], metric: str) -> int:
    value = METRICS[metric]
    return sum(value(t) > 0 for b in summary["buckets"] for t in b["models"].values())


def points(summary: dict[str, Any]) -> int:
    return sum(
        (b["latency_p50_ms"] is not None) + (b["latency_p95_ms"] is not None) for b in summary["buckets"]
    )


def check_plots(page: Page, summary: dict[str, Any], metric: str) -> None:
    expect(page.locator("#plot-traffic rect.bar")).to_have_count(bars(summary, metric))
    expect(page.locator("#plot-latency circle.point")).to_have_count(points(summary))
    expect(page.locator("#plot-errors rect.bar")).to_have_count(len(summary["errors"]))
    expect(page.locator("table.per-model tbody tr")).to_have_count(len(summary["models"]))
    expect(page.locator("table.per-provider tbody tr")).to_have_count(len(summary["providers"]))


def summary_of(page: Page, action: Any) -> dict[str, Any]:
    with page.expect_response(lambda r: "/v1/usage/summary" in r.url) as got:
        action()
    return dict(got.value.json())


def test_the_totals_and_plots_match_the_api(page: Page, up: FakeUpstream, api: httpx.Client) -> None:
    start = wait_for_usage(api, 0)["totals"]["requests"]
    up.push(Reply("fine", delay=0.05), Fail(429, retry_after="1"), Fail(500))
    for model in ("ui-alpha", "ui-alpha", "ui-alpha", "ui-beta", "ui-gamma"):
        chat(api, model)
    chat(api, "ui-down")  # connection refused
    assert chat(api, "no-such-model").status_code == 404
    wait_for_usage(api, start + 7)

    summary = summary_of(page, lambda: page.goto("/ui/usage?range=1h"))
    assert summary["range"] == "1h" and len(summary["buckets"]) == 12
    assert {"rate_limit", "upstream", "not_found"} <= {e["type"] for e in summary["errors"]}
    expect(page.get_by_label("Time range")).to_have_value("1h")
    expect(page.locator(".card").first).to_contain_text(f"{summary['totals']['requests']:,}")
    check_plots(page, summary, "requests")
    screenshot(page, "usage")

    page.get_by_label("Chart by model").select_option("tokens")  # redrawn from the same answer
    expect(page.locator("#plot-traffic figcaption")).to_contain_text("Tokens")
    check_plots(page, summary, "tokens")

    week = summary_of(page, lambda: page.get_by_label("Time range").select_option("7d"))
    assert week["range"] == "7d" and len(week["buckets"]) == 28
    check_plots(page, week, "tokens")
    expect(page).to_have_url("/ui/usage?range=7d&metric=tokens")


def test_a_bad_range_is_a_400_naming_the_field(api: httpx.Client) -> None:
    r = api.get("/v1/usage/summary", params={"range": "2h"})
    assert r.status_code == 400 and r.json()["error"]["param"] == "range"


def pct(share: float | None) -> str:
    """The page's fmt.pct."""
    return "—" if share is None else f"{100 * share:.0f}%"


def test_the_per_model_table_shows_cached_and_reasoning_tokens(
    page: Page, up: FakeUpstream, api: httpx.Client
) -> None:
    """An upstream that reports cached and reasoning tokens: the table's columns show them, and
    the model's cache-hit share (large enough to stand out of the other tests' traffic)."""
    start = wait_for_usage(api, 0)["totals"]["requests"]
    cached = Reply(
        "From the cache.",
        input_tokens=1_000_000,
        output_tokens=4000,
        cache_read_tokens=750_000,
        cache_write_tokens=50_000,
        reasoning_tokens=3000,
    )
    up.push(cached)
    assert chat(api, "ui-gamma").status_code == 200
    wait_for_usage(api, start + 1)

    summary = summary_of(page, lambda: page.goto("/ui/usage?range=1h"))
    gamma = next(m for m in summary["models"] if m["model"] == "ui-gamma")
    assert gamma["cache_read_tokens"] >= 750_000 and gamma["reasoning_tokens"] >= 3000
    assert 0.7 < gamma["cache_hit_share"] <= 0.75
    columns: dict[str, Callable[[dict[str, Any]], str]] = {
        "Tokens in": lambda m: f"{m['input_tokens']:,}",
        "Cache read": lambda m: f"{m['cache_read_tokens']:,}",
        "Cache write": lambda m: f"{m['cache_write_tokens']:,}",
        "Cache hits": lambda m: pct(m["cache_hit_share"]),
        "Tokens out": lambda m: f"{m['output_tokens']:,}",
        "Reasoning": lambda m: f"{m['reasoning_tokens']:,}",
    }
    table = page.locator("table.per-model-tokens")
    expect(table.locator("tbody tr")).to_have_count(len(summary["models"]))
    heads = table.locator("thead th").all_inner_texts()
    for k, model in enumerate(summary["models"]):
        cells = table.locator("tbody tr").nth(k).locator("td")
        expect(cells.nth(0)).to_have_text(model["model"])
        for name, text in columns.items():
            expect(cells.nth(heads.index(name))).to_have_text(text(model))
    screenshot(page, "usage-tokens")
    share = summary["totals"]["cache_hit_share"]
    expect(page.locator(".card", has_text="Cache hits")).to_contain_text(f"{pct(share)} of input")
