// The entry point of every page: mark the current page in the navigation and mount its module.
import { errorBox, h, showError } from "./dom.js";

const PAGES = {
  arena: ["Arena", () => import("./arena.js")],
  leaderboard: ["Leaderboard", () => import("./leaderboard.js")],
  usage: ["Usage", () => import("./usage.js")],
  playground: ["Playground", () => import("./playground.js")],
};

async function main() {
  const name = location.pathname.split("/")[2] || "arena";
  const [title, load] = PAGES[name] || PAGES.arena;
  document.title = `${title} · Multimodel`;
  for (const a of document.querySelectorAll("nav a")) {
    if (a.dataset.page === name) a.setAttribute("aria-current", "page");
  }
  const main = document.getElementById("main");
  try {
    const page = await load();
    main.replaceChildren();
    await page.mount(main);
  } catch (e) {
    const box = errorBox();
    showError(box, e);
    main.replaceChildren(h("h1", {}, title), box);
  }
}

main();
