// Plots as inline SVG, drawn at the width of their container (so text keeps its size on a phone)
// and redrawn when that width changes. Every mark carries a <title> for hover and screen readers.
import { h, s } from "./dom.js";

export const PALETTE = ["#1d4ed8", "#c2410c", "#15803d", "#7e22ce", "#0e7490", "#a16207", "#be185d", "#4b5563"];
const FONT_W = 7; // rough width of a 12px character, to fit labels

/** Render draw(width) into `container` now and again whenever its width changes. */
export function responsive(container, draw) {
  let last = 0;
  const render = () => {
    const width = Math.max(280, Math.floor(container.clientWidth));
    if (width === last) return;
    last = width;
    container.replaceChildren(draw(width));
  };
  render();
  new ResizeObserver(render).observe(container);
}

/** Append a captioned plot to `parent`, then draw it at its laid-out width. */
export function figure(parent, id, caption, draw) {
  const box = h("div", { class: "plot-box" });
  parent.append(h("figure", { id: `plot-${id}` }, h("figcaption", {}, caption), box));
  responsive(box, draw);
}

function frame(width, height, label) {
  return s("svg", { class: "plot", viewBox: `0 0 ${width} ${height}`, width, height, role: "img", "aria-label": label });
}

function clip(text, chars) {
  text = String(text);
  return text.length > chars ? text.slice(0, Math.max(1, chars - 1)) + "…" : text;
}

/** About `count` round numbers spanning [lo, hi]. */
export function ticks(lo, hi, count = 5) {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((m) => m >= raw);
  const out = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) out.push(+t.toFixed(10));
  return out;
}

/** Ratings as points with their 95% intervals as horizontal error bars, best at the top. */
export function ratingPlot(rows, width) {
  const labelW = Math.min(180, Math.max(80, Math.floor(width * 0.3)));
  const rowH = 26, top = 8, bottom = 26, right = 16;
  const height = top + rows.length * rowH + bottom;
  const svg = frame(width, height, `Ratings of ${rows.length} models with 95% confidence intervals`);
  const lo = Math.min(...rows.map((r) => r.ci_low)), hi = Math.max(...rows.map((r) => r.ci_high));
  const pad = Math.max(5, (hi - lo) * 0.05);
  const x0 = lo - pad, x1 = hi + pad, plotW = width - labelW - right;
  const x = (v) => labelW + ((v - x0) / (x1 - x0)) * plotW;
  for (const t of ticks(x0, x1, Math.max(2, Math.floor(plotW / 90)))) {
    svg.append(
      s("line", { class: "grid", x1: x(t), x2: x(t), y1: top, y2: height - bottom }),
      s("text", { x: x(t), y: height - 8, "text-anchor": "middle" }, t.toFixed(0)),
    );
  }
  rows.forEach((r, k) => {
    const y = top + k * rowH + rowH / 2;
    const tip = `${r.model}: ${r.rating.toFixed(1)} (95% CI ${r.ci_low.toFixed(1)} to ${r.ci_high.toFixed(1)})`;
    svg.append(
      s("text", { x: labelW - 8, y: y + 4, "text-anchor": "end" }, clip(r.model, Math.floor((labelW - 8) / FONT_W))),
      s("line", { class: "ci", x1: x(r.ci_low), x2: x(r.ci_high), y1: y, y2: y }, s("title", {}, tip)),
      s("circle", { class: "point", cx: x(r.rating), cy: y, r: 5 }, s("title", {}, tip)),
    );
  });
  return svg;
}

function heat(rate) {
  // red (lost) through light grey (even) to blue (won); light enough for dark text on every cell
  const lost = [248, 180, 180], even = [243, 244, 246], won = [160, 190, 248];
  const [a, b, t] = rate < 0.5 ? [lost, even, rate / 0.5] : [even, won, (rate - 0.5) / 0.5];
  return `rgb(${a.map((v, k) => Math.round(v + (b[k] - v) * t)).join(" ")})`;
}

/** The pairwise win-rate matrix: row model's wins over the column model. */
export function heatmap(pairwise, width) {
  const { models, win_rate: rate, battles } = pairwise;
  const n = models.length;
  const labelW = Math.min(150, Math.max(70, Math.floor(width * 0.25)));
  const cell = Math.max(18, Math.min(56, Math.floor((width - labelW - 8) / Math.max(n, 1))));
  const top = Math.min(110, 14 + Math.max(...models.map((m) => m.length), 4) * 5);
  const height = top + n * cell + 6;
  const svg = frame(Math.max(width, labelW + n * cell + 8), height, `Pairwise win rates between ${n} models`);
  models.forEach((m, k) => {
    const cx = labelW + k * cell + cell / 2;
    svg.append(
      s("text", { x: labelW - 6, y: top + k * cell + cell / 2 + 4, "text-anchor": "end" }, clip(m, Math.floor((labelW - 6) / FONT_W))),
      s("text", { x: cx, y: top - 6, transform: `rotate(-45 ${cx} ${top - 6})` }, clip(m, 14)),
    );
  });
  rate.forEach((row, r) =>
    row.forEach((v, c) => {
      const x = labelW + c * cell, y = top + r * cell;
      if (v === null) {
        svg.append(s("rect", { class: "cell empty", x, y, width: cell - 2, height: cell - 2 }));
        return;
      }
      const tip = `${models[r]} beat ${models[c]} in ${(100 * v).toFixed(0)}% of ${battles[r][c]} battles`;
      svg.append(s("rect", { class: "cell", x, y, width: cell - 2, height: cell - 2, fill: heat(v) }, s("title", {}, tip)));
      if (cell >= 30) {
        svg.append(s("text", { x: x + cell / 2 - 1, y: y + cell / 2 + 3, "text-anchor": "middle" }, `${Math.round(100 * v)}`));
      }
    }),
  );
  return svg;
}

/** Horizontal bars, one per item {label, value, text}; `max` fixes the scale (e.g. 1 for shares). */
export function barList(items, width, { label, max } = {}) {
  const labelW = Math.min(180, Math.max(80, Math.floor(width * 0.3)));
  const rowH = 26, valueW = 64;
  const height = items.length * rowH + 4;
  const svg = frame(width, height, label);
  const top = max ?? Math.max(...items.map((i) => i.value), 1e-9);
  const plotW = width - labelW - valueW;
  items.forEach((item, k) => {
    const y = k * rowH + 4;
    const w = Math.max(1, (item.value / top) * plotW);
    svg.append(
      s("text", { x: labelW - 8, y: y + 14, "text-anchor": "end" }, clip(item.label, Math.floor((labelW - 8) / FONT_W))),
      s("rect", { class: "bar", x: labelW, y, width: w, height: rowH - 8, fill: item.color }, s("title", {}, `${item.label}: ${item.text}`)),
      s("text", { x: labelW + w + 6, y: y + 14 }, item.text),
    );
  });
  return svg;
}

/** Vertical bars per time bucket, stacked by series: values[b][k] for bucket b and series k. */
export function stackedBars({ labels, series, values, colors, format, title }, width) {
  const left = 64, right = 8, top = 10, bottom = 28, height = 240;
  const svg = frame(width, height, title);
  const totals = values.map((row) => row.reduce((a, v) => a + v, 0));
  const ys = ticks(0, Math.max(...totals, 0) || 1, 4);
  const yMax = ys[ys.length - 1] || 1;
  const plotH = height - top - bottom, plotW = width - left - right;
  const y = (v) => top + plotH - (v / yMax) * plotH;
  for (const t of ys) {
    svg.append(
      s("line", { class: "grid", x1: left, x2: width - right, y1: y(t), y2: y(t) }),
      s("text", { x: left - 6, y: y(t) + 4, "text-anchor": "end" }, format(t)),
    );
  }
  const bw = plotW / labels.length;
  const every = Math.ceil(labels.length / Math.max(1, Math.floor(plotW / 70)));
  labels.forEach((lab, b) => {
    const x = left + b * bw;
    if (b % every === 0) svg.append(s("text", { x: x + bw / 2, y: height - 8, "text-anchor": "middle" }, lab));
    let base = 0;
    series.forEach((name, k) => {
      const v = values[b][k];
      if (!(v > 0)) return;
      svg.append(
        s(
          "rect",
          { class: "bar", x: x + 1, y: y(base + v), width: Math.max(1, bw - 2), height: y(base) - y(base + v), fill: colors[k] },
          s("title", {}, `${lab} · ${name}: ${format(v)}`),
        ),
      );
      base += v;
    });
  });
  svg.append(s("line", { class: "axis", x1: left, x2: width - right, y1: y(0), y2: y(0) }));
  return svg;
}

/** Lines over time buckets: lines = [{name, color, values: [number|null per bucket]}]. */
export function lineChart({ labels, lines, format, title }, width) {
  const left = 64, right = 8, top = 10, bottom = 28, height = 220;
  const svg = frame(width, height, title);
  const all = lines.flatMap((l) => l.values.filter((v) => v !== null));
  const ys = ticks(0, Math.max(...all, 0) || 1, 4);
  const yMax = ys[ys.length - 1] || 1;
  const plotH = height - top - bottom, plotW = width - left - right;
  const bw = plotW / labels.length;
  const x = (b) => left + b * bw + bw / 2;
  const y = (v) => top + plotH - (v / yMax) * plotH;
  for (const t of ys) {
    svg.append(
      s("line", { class: "grid", x1: left, x2: width - right, y1: y(t), y2: y(t) }),
      s("text", { x: left - 6, y: y(t) + 4, "text-anchor": "end" }, format(t)),
    );
  }
  const every = Math.ceil(labels.length / Math.max(1, Math.floor(plotW / 70)));
  labels.forEach((lab, b) => {
    if (b % every === 0) svg.append(s("text", { x: x(b), y: height - 8, "text-anchor": "middle" }, lab));
  });
  svg.append(s("line", { class: "axis", x1: left, x2: width - right, y1: y(0), y2: y(0) }));
  for (const line of lines) {
    const pts = line.values.map((v, b) => (v === null ? null : [x(b), y(v), v, b])).filter(Boolean);
    if (pts.length > 1) {
      svg.append(s("polyline", { class: "line", stroke: line.color, points: pts.map(([px, py]) => `${px},${py}`).join(" ") }));
    }
    for (const [px, py, v, b] of pts) {
      svg.append(s("circle", { class: "point", cx: px, cy: py, r: 3.5, fill: line.color }, s("title", {}, `${labels[b]} · ${line.name}: ${format(v)}`)));
    }
  }
  return svg;
}
