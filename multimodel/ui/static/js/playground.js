// The playground: chat with any configured model, streamed, and rate each answer (POST /v1/feedback,
// the same API that clients use, by the answer's x-request-id).
import { call, getJSON, postJSON, readChatStream, voter } from "./api.js";
import { errorBox, h, s, showError } from "./dom.js";

// A thumb outline (the shape of Feather's thumbs-up icon, MIT); thumbs down is it turned over.
const THUMB = "M14 9V5a3 3 0 0 0-3-3l-4 9v11h11.28a2 2 0 0 0 2-1.7l1.38-9a2 2 0 0 0-2-2.3zM7 22H4a2 2 0 0 1-2-2v-7a2 2 0 0 1 2-2h3";

function thumbIcon(down) {
  return s(
    "svg",
    { viewBox: "0 0 24 24", width: 16, height: 16, "aria-hidden": "true", fill: "none", stroke: "currentColor", "stroke-width": 2, "stroke-linejoin": "round" },
    s("path", { d: THUMB, transform: down ? "rotate(180 12 12)" : null }),
  );
}

export async function mount(main) {
  const model = h("select", { id: "model", name: "model" });
  const message = h("textarea", { id: "message", name: "message", rows: 3, required: true, placeholder: "Write a message…" });
  const send = h("button", { type: "submit", id: "send" }, "Send");
  const clear = h("button", { type: "button", class: "secondary", id: "clear" }, "Clear chat");
  const chat = h("div", { class: "chat", id: "chat", "aria-live": "polite" });
  const problem = errorBox();
  const form = h(
    "form",
    { id: "chat-form", class: "field" },
    h("label", { for: "message" }, "Message"),
    message,
    h("div", { class: "row" }, send, clear, h("span", { class: "muted small" }, h("kbd", {}, "Ctrl"), "+", h("kbd", {}, "Enter"), " sends")),
  );
  main.append(
    h("h1", {}, "Playground"),
    h("div", { class: "controls" }, h("div", { class: "field" }, h("label", { for: "model" }, "Model"), model)),
    problem,
    chat,
    form,
  );
  let history = []; // the conversation sent with each request, OpenAI messages

  const busy = (yes) => (send.disabled = message.disabled = model.disabled = yes);

  try {
    const { data } = await getJSON("/v1/models");
    if (!data.length) {
      showError(problem, new Error("No models are configured on this gateway. Add one to its config file."));
      busy(true);
      return;
    }
    for (const m of data) model.append(h("option", { value: m.id }, m.id));
    const wanted = new URLSearchParams(location.search).get("model");
    if (data.some((m) => m.id === wanted)) model.value = wanted;
  } catch (e) {
    showError(problem, e);
    busy(true);
    return;
  }

  async function submit(e) {
    e?.preventDefault();
    const text = message.value.trim();
    if (!text || send.disabled) return;
    showError(problem, null);
    busy(true);
    chat.append(h("div", { class: "msg user" }, h("div", { class: "who" }, "You"), h("div", { class: "text" }, text)));
    const answer = h("div", { class: "text", "aria-busy": "true" });
    const who = h("div", { class: "who" }, model.value);
    const box = h("div", { class: "msg assistant" }, who, answer);
    chat.append(box);
    const messages = [...history, { role: "user", content: text }];
    try {
      const r = await call("/v1/chat/completions", {
        method: "POST",
        body: { model: model.value, messages, stream: true, user: voter() },
      });
      const requestId = r.headers.get("x-request-id");
      const full = await readChatStream(r, (piece, chunk) => {
        if (chunk.model && chunk.model !== model.value) who.textContent = `${model.value} → ${chunk.model}`;
        if (piece) answer.append(piece);
      });
      history = [...messages, { role: "assistant", content: full }];
      message.value = "";
      if (requestId) box.append(thumbs(requestId));
    } catch (err) {
      box.remove();
      showError(problem, err);
    } finally {
      answer.setAttribute("aria-busy", "false");
      busy(false);
      message.focus();
    }
  }

  form.addEventListener("submit", submit);
  message.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) submit(e);
  });
  clear.addEventListener("click", () => {
    history = [];
    chat.replaceChildren();
    showError(problem, null);
    message.focus();
  });
  message.focus();
}

/** Thumbs up / down for one answer; a second click changes the rating (the API replaces it). */
function thumbs(requestId) {
  const status = h("span", { class: "muted small", "aria-live": "polite" });
  const buttons = [];
  const rate = async (rating, button) => {
    status.textContent = "";
    try {
      await postJSON("/v1/feedback", { request_id: requestId, rating, user: voter() });
      for (const b of buttons) b.setAttribute("aria-pressed", String(b === button));
      status.textContent = "Thanks for the feedback.";
    } catch (e) {
      status.textContent = e.message;
    }
  };
  for (const [rating, label] of [["up", "Good"], ["down", "Bad"]]) {
    const b = h("button", { type: "button", "aria-pressed": "false", "data-rating": rating }, thumbIcon(rating === "down"), ` ${label}`);
    b.addEventListener("click", () => rate(rating, b));
    buttons.push(b);
  }
  return h("div", { class: "row thumbs", "data-request-id": requestId }, ...buttons, status);
}
