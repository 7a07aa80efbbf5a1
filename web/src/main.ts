// Lightning DB's web UI: one page, four views chosen by the URL fragment
// (#/query?..., #/cardinality, #/ingestion, #/settings), so that any view
// can be bookmarked and shared.
import { setToken, token } from "./api";
import { queryPage } from "./query";
import { cardinalityPage } from "./cardinality";
import { ingestionPage } from "./ingestion";
import { settingsPage } from "./settings";

type Page = (root: HTMLElement, params: URLSearchParams) => () => void;
const pages: Record<string, Page> = { query: queryPage, cardinality: cardinalityPage, ingestion: ingestionPage, settings: settingsPage };

let cleanup: (() => void) | null = null;

function route() {
  const hash = location.hash.replace(/^#\/?/, "");
  const [name, qs] = hash.split("?", 2);
  const page = pages[name] ? name : "query";
  const main = document.getElementById("main")!;
  if (cleanup) cleanup();
  main.replaceChildren();
  for (const a of document.querySelectorAll<HTMLAnchorElement>("nav a")) {
    if (a.dataset.page === page) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  document.title = page[0].toUpperCase() + page.slice(1) + " · Lightning DB";
  cleanup = pages[page](main, new URLSearchParams(qs || ""));
}

const tok = document.getElementById("token") as HTMLInputElement;
tok.value = token();
tok.addEventListener("change", () => { setToken(tok.value.trim()); route(); });
window.addEventListener("hashchange", route);
route();
