// The usage dashboard: requests, tokens, cost, errors and latency per model and provider over a
// selectable time range, from GET /v1/usage/summary.
import { getJSON } from "./api.js";
import { errorBox, fill, fmt, h, showError, table } from "./dom.js";
import { barList, figure, lineChart, PALETTE, stackedBars } from "./plots.js";

const RANGES = [
  ["1h", "Last hour"],
  ["6h", "Last 6 hours"],
  ["24h", "Last 24 hours"],
  ["7d", "Last 7 days"],
  ["30d", "Last 30 days"],
];
const METRICS = {
  requests: ["Requests", (t) => t.requests, fmt.int],
  tokens: ["Tokens (input + output)", (t) => t.input_tokens + t.output_tokens, fmt.int],
  cost_usd: ["Cost (USD)", (t) => t.cost_usd, fmt.usd],
};

export function mount(main) {
  const params = new URLSearchParams(location.search);
  const range = h("select", { id: "range", name: "range" }, RANGES.map(([v, label]) => h("option", { value: v }, label)));
  const metric = h("select", { id: "metric", name: "metric" }, Object.entries(METRICS).map(([v, [label]]) => h("option", { value: v }, label)));
  range.value = RANGES.some(([v]) => v === params.get("range")) ? params.get("range") : "24h";
  metric.value = params.get("metric") in METRICS ? params.get("metric") : "requests";
  const problem = errorBox();
  const body = h("div", { id: "usage" });
  main.append(
    h("h1", {}, "Usage"),
    h(
      "div",
      { class: "controls" },
      h("div", { class: "field" }, h("label", { for: "range" }, "Time range"), range),
      h("div", { class: "field" }, h("label", { for: "metric" }, "Chart by model"), metric),
    ),
    problem,
    body,
  );
  let summary = null;

  async function load() {
    showError(problem, null);
    try {
      summary = await getJSON(`/v1/usage/summary?range=${range.value}`);
      render(body, summary, metric.value);
    } catch (e) {
      showError(problem, e);
      body.replaceChildren();
    }
  }

  const remember = () => {
    const url = new URL(location.href);
    url.searchParams.set("range", range.value);
    url.searchParams.set("metric", metric.value);
    history.replaceState(null, "", url);
  };
  range.addEventListener("change", () => (remember(), load()));
  metric.addEventListener("change", () => (remember(), summary && render(body, summary, metric.value)));
  return load();
}

function timeLabel(start, bucketSeconds) {
  const d = new Date(start * 1000);
  if (bucketSeconds >= 86400) return d.toLocaleDateString("en-GB", { day: "numeric", month: "short" });
  if (bucketSeconds >= 6 * 3600) return d.toLocaleString("en-GB", { day: "numeric", month: "short", hour: "2-digit" });
  return d.toLocaleTimeString("en-GB", { hour: "2-digit", minute: "2-digit" });
}

function render(body, u, metricName) {
  const t = u.totals;
  if (!t.requests) {
    fill(body, h("p", { class: "notice", id: "usage-empty" }, "No requests in this time range yet."));
    return;
  }
  const card = (label, value) => h("div", { class: "card" }, h("div", { class: "muted small" }, label), h("div", { class: "value" }, value));
  fill(
    body,
    h(
      "div",
      { class: "cards" },
      card("Requests", fmt.int(t.requests)),
      card("Errors", `${fmt.int(t.errors)} (${fmt.pct(t.errors / t.requests)})`),
      card("Tokens in / out", `${fmt.int(t.input_tokens)} / ${fmt.int(t.output_tokens)}`),
      card("Cache hits", `${fmt.pct(t.cache_hit_share)} of input`),
      card("Cost", fmt.usd(t.cost_usd)),
    ),
  );

  const models = u.models.map((m) => m.model).filter((m, k, all) => all.indexOf(m) === k);
  const colors = models.map((_, k) => PALETTE[k % PALETTE.length]);
  const labels = u.buckets.map((b) => timeLabel(b.start, u.bucket_seconds));
  const [metricLabel, value, format] = METRICS[metricName];
  const values = u.buckets.map((b) => models.map((m) => (b.models[m] ? value(b.models[m]) : 0)));
  figure(body, "traffic", `${metricLabel} per model over time`, (w) =>
    stackedBars({ labels, series: models, values, colors, format, title: `${metricLabel} per model over time` }, w),
  );
  body.append(
    h("ul", { class: "legend", "aria-label": "Models" }, models.map((m, k) => h("li", {}, h("span", { class: "swatch", "data-color": colors[k] }), m))),
  );
  for (const sw of body.querySelectorAll(".swatch")) sw.style.background = sw.dataset.color; // CSSOM: allowed by the CSP
  figure(body, "latency", "Latency of successful requests over time (p50, p95)", (w) =>
    lineChart(
      {
        labels,
        format: fmt.ms,
        title: "Latency percentiles over time",
        lines: [
          { name: "p50", color: PALETTE[0], values: u.buckets.map((b) => b.latency_p50_ms) },
          { name: "p95", color: PALETTE[1], values: u.buckets.map((b) => b.latency_p95_ms) },
        ],
      },
      w,
    ),
  );
  if (u.errors.length) {
    const items = u.errors.map((e) => ({ label: e.type, value: e.count, text: fmt.int(e.count), color: "#b91c1c" }));
    figure(body, "errors", "Errors by type", (w) => barList(items, w, { label: "Errors by type" }));
  } else {
    body.append(h("p", { class: "muted", id: "no-errors" }, "No errors in this time range."));
  }

  const timing = (g) => [fmt.ms(g.latency_p50_ms), fmt.ms(g.latency_p95_ms), fmt.ms(g.ttft_p50_ms), fmt.ms(g.ttft_p95_ms)];
  const sums = (g) => [fmt.int(g.requests), fmt.int(g.errors), fmt.int(g.input_tokens), fmt.int(g.output_tokens), fmt.usd(g.cost_usd)];
  const heads = ["Requests", "Errors", "Tokens in", "Tokens out", "Cost", "p50", "p95", "TTFT p50", "TTFT p95"];
  // Cache reads and writes are parts of the input tokens, reasoning of the output (multimodel.types.Usage).
  const details = (g) => [fmt.int(g.input_tokens), fmt.int(g.cache_read_tokens), fmt.int(g.cache_write_tokens), fmt.pct(g.cache_hit_share), fmt.int(g.output_tokens), fmt.int(g.reasoning_tokens)];
  const detailHeads = ["Tokens in", "Cache read", "Cache write", "Cache hits", "Tokens out", "Reasoning"];
  body.append(
    h("h2", {}, "Per model"),
    table(["Model", "Provider", ...heads], u.models.map((g) => [g.model, g.provider ?? "—", ...sums(g), ...timing(g)]), "per-model", [0, 1]),
    h("h2", {}, "Per provider"),
    table(["Provider", ...heads], u.providers.map((g) => [g.provider ?? "(no model matched)", ...sums(g), ...timing(g)]), "per-provider"),
    h("p", { class: "muted small" }, `Latency percentiles from the newest ${fmt.int(u.latency_sample)} successful requests of the range.`),
    h("h2", {}, "Tokens per model"),
    table(["Model", "Provider", ...detailHeads], u.models.map((g) => [g.model, g.provider ?? "—", ...details(g)]), "per-model-tokens", [0, 1]),
    h("p", { class: "muted small" }, "Cache reads and writes are part of the tokens in, reasoning of the tokens out; cache hits: the share of the tokens in read from the cache."),
  );
}
