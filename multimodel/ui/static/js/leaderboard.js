// The leaderboard: the Bradley–Terry table with satisfaction rates, a category filter, and the
// plots behind it (ratings with intervals, pairwise win rates, the `auto` route's shares).
import { getJSON } from "./api.js";
import { errorBox, fill, fmt, h, showError, table } from "./dom.js";
import { barList, figure, heatmap, PALETTE, ratingPlot } from "./plots.js";

export function mount(main) {
  const category = h("select", { id: "category", name: "category" }, h("option", { value: "" }, "All categories"));
  const problem = errorBox();
  const body = h("div", { id: "board" });
  main.append(
    h("h1", {}, "Leaderboard"),
    h("div", { class: "controls" }, h("div", { class: "field" }, h("label", { for: "category" }, "Category"), category)),
    problem,
    body,
  );
  const wanted = new URLSearchParams(location.search).get("category") || "";

  async function load() {
    showError(problem, null);
    const query = category.value || wanted;
    try {
      const board = await getJSON("/v1/leaderboard" + (query ? `?category=${encodeURIComponent(query)}` : ""));
      syncCategories(board.categories, board.category);
      render(body, board);
    } catch (e) {
      showError(problem, e);
      body.replaceChildren();
    }
  }

  function syncCategories(all, current) {
    const have = [...category.options].map((o) => o.value);
    for (const c of [...all, current]) if (c && !have.includes(c)) category.append(h("option", { value: c }, c));
    category.value = current || "";
  }

  category.addEventListener("change", () => {
    const url = new URL(location.href);
    if (category.value) url.searchParams.set("category", category.value);
    else url.searchParams.delete("category");
    history.replaceState(null, "", url);
    load();
  });
  return load();
}

function render(body, board) {
  const sat = new Map(board.satisfaction.map((r) => [r.model, r]));
  const rated = new Set(board.leaderboard.map((r) => r.model));
  const satCell = (m) => {
    const r = sat.get(m);
    return r && r.thumbs ? `${fmt.pct(r.rate)} (${r.thumbs_up}/${r.thumbs})` : "—";
  };
  const rows = [
    ...board.leaderboard.map((r) => [
      String(r.rank),
      r.model,
      r.rating.toFixed(1),
      `${r.ci_low.toFixed(1)} – ${r.ci_high.toFixed(1)}`,
      fmt.int(r.votes),
      satCell(r.model),
    ]),
    // models with feedback on single answers but no arena rating yet
    ...board.satisfaction.filter((r) => !rated.has(r.model)).map((r) => ["—", r.model, "—", "—", "0", satCell(r.model)]),
  ];
  const parts = [
    h("p", { class: "muted", id: "board-meta" }, `${fmt.int(board.battles)} votes${board.category ? ` in “${board.category}”` : ""} · intervals from ${fmt.int(board.bootstrap_rounds)} bootstrap rounds`),
  ];
  if (board.note) parts.push(h("p", { class: "notice", id: "board-note" }, `No ratings yet: ${board.note}.`));
  if (rows.length) {
    parts.push(table(["Rank", "Model", "Rating", "95% CI", "Votes", "Satisfaction"], rows, "leaderboard", [1]));
  }
  fill(body, parts);

  if (board.leaderboard.length) {
    figure(body, "ratings", "Ratings with 95% confidence intervals", (w) => ratingPlot(board.leaderboard, w));
  }
  if (board.pairwise.models.length) {
    figure(body, "pairwise", "Pairwise win rate (row beat column, %)", (w) => heatmap(board.pairwise, w));
  }
  if (board.auto) {
    const shares = Object.entries(board.auto.shares).sort((a, b) => b[1] - a[1]);
    const items = shares.map(([m, v], k) => ({ label: m, value: v, text: fmt.pct(v), color: PALETTE[k % PALETTE.length] }));
    figure(body, "shares", `Traffic shares of the “${board.auto.name}” route now`, (w) => barList(items, w, { label: "Traffic shares", max: 1 }));
  }
}
