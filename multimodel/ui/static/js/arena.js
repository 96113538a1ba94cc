// The arena: one prompt, two anonymous answers streamed side by side, one vote, then the names.
import { call, pathOf, postJSON, readChatStream, voter } from "./api.js";
import { errorBox, h, showError } from "./dom.js";

const VOTES = [
  ["a", "A is better", "A"],
  ["b", "B is better", "B"],
  ["tie", "Tie", "T"],
  ["both_bad", "Both are bad", "X"],
];
const KEYS = { a: "a", 1: "a", b: "b", 2: "b", t: "tie", 3: "tie", x: "both_bad", 4: "both_bad" };

export function mount(main) {
  const prompt = h("textarea", { id: "prompt", name: "prompt", rows: 4, required: true, placeholder: "Ask both models anything…" });
  const send = h("button", { type: "submit", id: "send" }, "Send");
  const form = h(
    "form",
    { id: "prompt-form", class: "field" },
    h("label", { for: "prompt" }, "Your prompt"),
    prompt,
    h("div", { class: "row" }, send, h("span", { class: "muted small" }, h("kbd", {}, "Ctrl"), "+", h("kbd", {}, "Enter"), " sends")),
  );
  const sides = {};
  for (const side of ["a", "b"]) {
    const title = h("h2", { id: `title-${side}` }, `Model ${side.toUpperCase()}`);
    const answer = h("div", { class: "answer", id: `answer-${side}`, "aria-live": "polite", "aria-busy": "false" });
    const problem = errorBox();
    sides[side] = { box: h("article", { class: "side", "aria-labelledby": `title-${side}` }, title, answer, problem), title, answer, problem };
  }
  const buttons = VOTES.map(([winner, label, key]) =>
    h("button", { type: "button", "data-vote": winner, disabled: true, onclick: () => vote(winner) }, `${label} `, h("kbd", {}, key)),
  );
  const reveal = h("p", { class: "reveal", id: "reveal", "aria-live": "polite" });
  const newRound = h("button", { type: "button", class: "secondary", id: "new-round", onclick: () => reset() }, "New round ", h("kbd", {}, "N"));
  const problem = errorBox();
  main.append(
    h("h1", {}, "Arena"),
    h("p", { class: "muted" }, "Two anonymous models answer your prompt. Vote for the better answer to see which models they were."),
    form,
    problem,
    h("div", { class: "duel" }, sides.a.box, sides.b.box),
    h("div", { class: "row votes", role: "group", "aria-label": "Your vote" }, buttons),
    reveal,
    h("div", { class: "row" }, newRound),
    h("p", { class: "muted small" }, "Shortcuts: ", h("kbd", {}, "A"), " / ", h("kbd", {}, "B"), " better, ", h("kbd", {}, "T"), " tie, ", h("kbd", {}, "X"), " both bad, ", h("kbd", {}, "N"), " new round."),
  );

  let battle = null; // the current battle's creation answer
  let voted = false;
  let round = 0; // a stream of an abandoned round must not write into the next one

  const canVote = (yes) => buttons.forEach((b) => (b.disabled = !yes));

  function reset() {
    round += 1;
    battle = null;
    voted = false;
    canVote(false);
    showError(problem, null);
    reveal.textContent = "";
    for (const side of ["a", "b"]) {
      const x = sides[side];
      x.answer.textContent = "";
      x.answer.setAttribute("aria-busy", "false");
      x.title.textContent = `Model ${side.toUpperCase()}`;
      x.box.classList.remove("winner");
      showError(x.problem, null);
    }
    prompt.value = "";
    prompt.disabled = send.disabled = false;
    prompt.focus();
  }

  async function stream(side, url) {
    const x = sides[side];
    const mine = round;
    x.answer.setAttribute("aria-busy", "true");
    try {
      const r = await call(pathOf(url));
      await readChatStream(r, (piece) => round === mine && x.answer.append(piece));
      return true;
    } catch (e) {
      if (round === mine) showError(x.problem, e);
      return false;
    } finally {
      if (round === mine) x.answer.setAttribute("aria-busy", "false");
    }
  }

  async function start(e) {
    e?.preventDefault();
    const text = prompt.value.trim();
    if (!text || send.disabled) return;
    reset();
    prompt.value = text;
    prompt.disabled = send.disabled = true;
    const mine = round;
    try {
      battle = await postJSON("/v1/arena/battles", { prompt: text, user: voter() });
    } catch (err) {
      if (round !== mine) return;
      showError(problem, err);
      prompt.disabled = send.disabled = false;
      return;
    }
    const [a, b] = await Promise.all([stream("a", battle.a.stream), stream("b", battle.b.stream)]);
    if (round !== mine) return;
    if (a && b) {
      canVote(true);
      buttons[0].focus();
    } else {
      showError(problem, new Error("A vote needs both answers. Start a new round to try again."));
    }
  }

  async function vote(winner) {
    if (!battle || voted) return;
    voted = true;
    canVote(false);
    try {
      const result = await postJSON(pathOf(battle.vote), { winner, user: voter() });
      for (const side of ["a", "b"]) {
        sides[side].title.textContent = `Model ${side.toUpperCase()}: ${result[side].model}`;
        sides[side].box.classList.toggle("winner", result.winner === side);
      }
      const label = VOTES.find(([w]) => w === winner)[1];
      reveal.textContent = `You voted “${label}”. Model A was ${result.a.model}; model B was ${result.b.model}.`;
      newRound.focus();
    } catch (err) {
      voted = false;
      canVote(true);
      showError(problem, err);
    }
  }

  form.addEventListener("submit", start);
  prompt.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) start(e);
  });
  document.addEventListener("keydown", (e) => {
    if (e.ctrlKey || e.metaKey || e.altKey || e.target.closest("textarea, input, select, dialog")) return;
    const key = e.key.toLowerCase();
    if (key === "n") {
      e.preventDefault();
      reset();
    } else if (KEYS[key] && battle && !voted && !buttons[0].disabled) {
      e.preventDefault();
      vote(KEYS[key]);
    }
  });
  prompt.focus();
}
