// Building the page without innerHTML: every string becomes a text node or an attribute value,
// so model output and model names can never become markup.

const SVG_NS = "http://www.w3.org/2000/svg";

function build(el, attrs, children) {
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on")) {
      if (typeof value === "function") el.addEventListener(name.slice(2), value); // never a handler as text
    } else {
      el.setAttribute(name, value === true ? "" : String(value));
    }
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/** An HTML element: h("button", {type: "button", onclick: f}, "Text"). */
export function h(tag, attrs, ...children) {
  return build(document.createElement(tag), attrs, children);
}

/** An SVG element, same calling convention. */
export function s(tag, attrs, ...children) {
  return build(document.createElementNS(SVG_NS, tag), attrs, children);
}

/** Replace an element's children. */
export function fill(el, ...children) {
  el.replaceChildren();
  return build(el, {}, children);
}

/** The error box of a page: role=alert, so screen readers announce it; empty hides it. */
export function errorBox() {
  return h("p", { class: "error", role: "alert" });
}

export function showError(box, err) {
  box.textContent = err ? err.message || String(err) : "";
}

/** A table in a sideways-scrolling box; columns listed in `text` are left-aligned, the rest are numbers. */
export function table(headers, rows, className, text = [0]) {
  const cls = (k) => (text.includes(k) ? "text" : null);
  return h(
    "div",
    { class: "table-wrap" },
    h(
      "table",
      { class: className },
      h("thead", {}, h("tr", {}, headers.map((x, k) => h("th", { scope: "col", class: cls(k) }, x)))),
      h("tbody", {}, rows.map((r) => h("tr", {}, r.map((cell, k) => h("td", { class: cls(k) }, cell))))),
    ),
  );
}

export const fmt = {
  int: (n) => (n === null || n === undefined ? "—" : Math.round(n).toLocaleString("en-US")),
  num: (n, digits = 1) => (n === null || n === undefined ? "—" : n.toFixed(digits)),
  pct: (x) => (x === null || x === undefined ? "—" : `${(100 * x).toFixed(0)}%`),
  usd: (x) => (x === null || x === undefined ? "—" : x < 0.01 && x > 0 ? `$${x.toFixed(4)}` : `$${x.toFixed(2)}`),
  ms: (x) => (x === null || x === undefined ? "—" : x >= 1000 ? `${(x / 1000).toFixed(2)} s` : `${Math.round(x)} ms`),
};
