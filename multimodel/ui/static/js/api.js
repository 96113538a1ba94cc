// Calls to the gateway's /v1 API as any client makes them: the gateway API key (asked for on a
// 401, kept for this browser tab in sessionStorage) and errors turned into readable messages.

const KEY = "multimodel.apiKey";
const VOTER = "multimodel.voter";

export class ApiError extends Error {
  constructor(message, status = 0, code = null) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** A random id for this browser, sent as `user` so that its votes and ratings are its own. */
export function voter() {
  let id = localStorage.getItem(VOTER);
  if (!id) {
    id = "ui-" + crypto.getRandomValues(new Uint32Array(2)).join("");
    localStorage.setItem(VOTER, id);
  }
  return id;
}

let asking = null; // one key prompt at a time, however many calls got a 401

function askForKey(why) {
  if (asking) return asking;
  const dialog = document.getElementById("key-dialog");
  const input = document.getElementById("key-input");
  document.getElementById("key-why").textContent = why;
  input.value = "";
  asking = new Promise((resolve, reject) => {
    const form = document.getElementById("key-form");
    const cancel = document.getElementById("key-cancel");
    const done = (key) => {
      form.removeEventListener("submit", onSubmit);
      cancel.removeEventListener("click", onCancel);
      dialog.removeEventListener("cancel", onCancel);
      dialog.close();
      asking = null;
      if (key) resolve(key);
      else reject(new ApiError("This page needs a gateway API key. Reload the page to enter one.", 401));
    };
    const onSubmit = (e) => {
      e.preventDefault();
      const key = input.value.trim();
      if (!key) return;
      sessionStorage.setItem(KEY, key);
      done(key);
    };
    const onCancel = (e) => {
      e.preventDefault();
      done(null);
    };
    form.addEventListener("submit", onSubmit);
    cancel.addEventListener("click", onCancel);
    dialog.addEventListener("cancel", onCancel);
  });
  dialog.showModal();
  input.focus();
  return asking;
}

/** fetch() a /v1 path; resolves to an ok Response, else throws an ApiError with a readable message. */
export async function call(path, { method = "GET", body, signal } = {}) {
  for (;;) {
    const key = sessionStorage.getItem(KEY);
    const headers = {};
    if (key) headers.authorization = `Bearer ${key}`;
    if (body !== undefined) headers["content-type"] = "application/json";
    let r;
    try {
      r = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), signal });
    } catch (e) {
      if (e.name === "AbortError") throw e;
      throw new ApiError("Cannot reach the gateway. Is it running? Try again in a moment.");
    }
    if (r.status === 401) {
      if (key) sessionStorage.removeItem(KEY);
      await askForKey(key ? "That key was refused. Enter another one." : "This gateway needs an API key.");
      continue;
    }
    if (!r.ok) throw await errorOf(r);
    return r;
  }
}

export async function getJSON(path) {
  return (await call(path)).json();
}

export async function postJSON(path, body) {
  return (await call(path, { method: "POST", body })).json();
}

async function errorOf(r) {
  let error = {};
  try {
    error = (await r.json()).error || {};
  } catch {
    // not JSON: a proxy's error page, say
  }
  return new ApiError(describe(r.status, error.message, r.headers.get("retry-after")), r.status, error.code || null);
}

function describe(status, message, retryAfter) {
  const said = message ? ` (${message})` : "";
  if (status === 429) {
    const wait = retryAfter ? ` Try again in ${retryAfter} s.` : " Try again later.";
    return `Rate limited${said}.${wait}`;
  }
  if (status === 502 || status === 503 || status === 504 || status === 529) {
    return `The model's provider is unavailable right now${said}. Try again, or pick another model.`;
  }
  return message || `The gateway answered HTTP ${status}.`;
}

/** The path of a URL the API returned, so that calls stay on this page's origin behind a proxy. */
export function pathOf(url) {
  const u = new URL(url, location.href);
  return u.pathname + u.search;
}

/** Read an OpenAI chat-completion SSE stream; onDelta(text, chunk) per chunk (text may be "").
 *  Resolves to the whole text at [DONE]; an error event or an early close throws an ApiError. */
export async function readChatStream(response, onDelta) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  let text = "";
  for (;;) {
    const { value, done } = await reader.read();
    buffer += decoder.decode(value || new Uint8Array(), { stream: !done });
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const event = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      for (const line of event.split("\n")) {
        if (!line.startsWith("data:")) continue;
        const data = line.slice(5).trim();
        if (data === "[DONE]") return text;
        const chunk = JSON.parse(data);
        if (chunk.error) throw new ApiError(chunk.error.message || "The answer broke off.");
        const piece = chunk.choices?.[0]?.delta?.content;
        if (piece) {
          text += piece;
          onDelta(piece, chunk);
        } else if (chunk.model) {
          onDelta("", chunk);
        }
      }
    }
    if (done) throw new ApiError("The answer broke off (the connection closed early).");
  }
}
