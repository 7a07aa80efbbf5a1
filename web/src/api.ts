// HTTP helpers: every call carries the token the user gave (kept in
// sessionStorage, never in the URL) and turns Prometheus API errors into
// exceptions with the server's message.

export class APIError extends Error {
  constructor(msg: string, public status: number) { super(msg); }
}

export function token(): string { return sessionStorage.getItem("ldb-token") || ""; }
export function setToken(t: string) { t ? sessionStorage.setItem("ldb-token", t) : sessionStorage.removeItem("ldb-token"); }

function headers(): HeadersInit {
  const t = token();
  return t ? { Authorization: "Bearer " + t } : {};
}

export async function getText(path: string, signal?: AbortSignal): Promise<string> {
  const r = await fetch(path, { headers: headers(), signal });
  const body = await r.text();
  if (!r.ok) throw new APIError(explain(r.status, body), r.status);
  return body;
}

// api calls a Prometheus API endpoint: GET with the parameters in the
// query string, or POST as a form when post is set (long queries).
export async function api<T = any>(path: string, params: Record<string, string> = {}, signal?: AbortSignal, post = false): Promise<{ data: T; warnings?: string[] }> {
  const qs = new URLSearchParams(params);
  const init: RequestInit = post
    ? { method: "POST", headers: { ...headers(), "Content-Type": "application/x-www-form-urlencoded" }, body: qs, signal }
    : { headers: headers(), signal };
  const r = await fetch(post || !qs.toString() ? path : path + "?" + qs, init);
  const text = await r.text();
  let j: any;
  try { j = JSON.parse(text); } catch { throw new APIError(explain(r.status, text), r.status); }
  if (j.status !== "success") throw new APIError(explain(r.status, j.error || text), r.status);
  return { data: j.data, warnings: j.warnings };
}

function explain(status: number, msg: string): string {
  if (status === 401) return "authentication required: enter a read token in the Token field (" + msg.trim() + ")";
  if (status === 403) return "this token may not read this (" + msg.trim() + ")";
  if (status === 503) return "the server is busy; try again in a moment (" + msg.trim() + ")";
  return msg.trim() || "HTTP " + status;
}

// h builds an element: h("div", {class: "x"}, child, "text").
export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, any> = {}, ...kids: (Node | string | null | undefined)[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else if (k === "text") el.textContent = String(v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of kids) if (c !== null && c !== undefined) el.append(c);
  return el;
}

export function fmtNum(v: number): string {
  if (!isFinite(v)) return String(v);
  const a = Math.abs(v);
  if (a >= 1e9) return (v / 1e9).toFixed(2) + " G";
  if (a >= 1e6) return (v / 1e6).toFixed(2) + " M";
  if (a >= 1e4) return (v / 1e3).toFixed(1) + " k";
  if (Number.isInteger(v)) return String(v);
  return v.toPrecision(4);
}

export function fmtBytes(v: number): string {
  const u = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (Math.abs(v) >= 1024 && i < u.length - 1) { v /= 1024; i++; }
  return (i ? v.toFixed(1) : String(Math.round(v))) + " " + u[i];
}

export function errorBox(msg: string): HTMLElement {
  return h("p", { class: "error", role: "alert" }, msg);
}

// labelsText renders a label set as metric{a="b",...}.
export function labelsText(m: Record<string, string>): string {
  const name = m.__name__ || "";
  const rest = Object.keys(m).filter(k => k !== "__name__").sort().map(k => `${k}=${JSON.stringify(m[k])}`);
  return rest.length ? `${name}{${rest.join(", ")}}` : name || "{}";
}

// setParams replaces the fragment's parameters without adding a history
// entry for every keystroke, and without re-rendering the page.
export function setParams(page: string, p: URLSearchParams) {
  history.replaceState(null, "", "#/" + page + "?" + p.toString());
}
