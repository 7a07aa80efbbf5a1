// The settings page: the effective configuration (secrets masked by the
// server) and the build, read-only.
import { api, errorBox, h } from "./api";

export function settingsPage(root: HTMLElement): () => void {
  const ctl = new AbortController();
  const build = h("p", { id: "build", class: "status" });
  const cfg = h("pre", { id: "config", class: "config", tabindex: 0, "aria-label": "Effective configuration" }, "loading…");
  root.append(h("section", {}, h("h1", {}, "Settings"), h("p", { class: "hint" }, "Read-only: the configuration the server runs with (flags over the file over defaults), secrets masked. Change it in the config file and restart (tokens and TLS reload on SIGHUP)."), build, cfg));
  api("/api/v1/status/buildinfo", {}, ctl.signal).then(({ data }) => { build.textContent = `version ${data.version} · revision ${data.revision} · ${data.goVersion}`; }).catch(() => { });
  api("/api/v1/status/config", {}, ctl.signal).then(({ data }) => { cfg.textContent = data.yaml; })
    .catch((e: any) => { if (e.name !== "AbortError") cfg.replaceWith(errorBox(e.message)); });
  return () => ctl.abort();
}
