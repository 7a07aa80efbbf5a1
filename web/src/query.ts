// The query page: a PromQL editor with autocomplete and inline syntax
// errors, a time range (relative or absolute) with step, and the answer as
// a graph (uPlot: drag to zoom, click a legend entry to hide its series,
// stacked mode), a table, or the optimizer's explain plan. The query, the
// range and the view live in the URL.
import uPlot from "uplot";
import { api, APIError, apply, errorBox, h, labelsText, setParams } from "./deps";
import { candidates, want, Want } from "./complete";

const RANGES: [string, number][] = [["5m", 300], ["15m", 900], ["1h", 3600], ["3h", 10800], ["6h", 21600], ["12h", 43200],
  ["1d", 86400], ["2d", 172800], ["7d", 604800], ["30d", 2592000]];
const PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];

export function queryPage(root: HTMLElement, params: URLSearchParams): () => void {
  let chart: uPlot | null = null;
  let ctl: AbortController | null = null;
  let acItems: string[] = [], acIndex = -1, acWant: Want | null = null, acSeq = 0;
  let lintTimer = 0;

  const q = h("textarea", { id: "q", rows: 3, spellcheck: "false", "aria-label": "PromQL query", role: "combobox",
    "aria-autocomplete": "list", "aria-controls": "ac", "aria-expanded": "false", placeholder: "e.g. rate(http_requests_total[5m])" });
  q.value = params.get("q") || "";
  const ac = h("ul", { id: "ac", role: "listbox", class: "ac", hidden: true, "aria-label": "Completions" });
  const lint = h("div", { id: "lint", class: "lint", "aria-live": "polite" });
  const range = h("select", { id: "range", "aria-label": "Time range" },
    ...RANGES.map(([n]) => h("option", { value: n }, "last " + n)), h("option", { value: "abs" }, "absolute…"));
  range.value = params.has("from") ? "abs" : (params.get("range") || "1h");
  const from = h("input", { id: "from", type: "datetime-local", step: "1", "aria-label": "From (local time)" });
  const to = h("input", { id: "to", type: "datetime-local", step: "1", "aria-label": "To (local time)" });
  const absBox = h("span", { class: "abs" }, from, " – ", to);
  const step = h("input", { id: "step", type: "text", size: 6, placeholder: "auto", "aria-label": "Step (seconds or a duration like 1m)" });
  step.value = params.get("step") || "";
  const stacked = h("input", { id: "stacked", type: "checkbox" });
  stacked.checked = params.get("stacked") === "1";
  const run = h("button", { id: "run", type: "button", class: "primary" }, "Run");
  const tabs = ["graph", "table", "explain"].map(t => h("button", { type: "button", role: "tab", id: "tab-" + t, "aria-controls": "result", "data-tab": t }, t[0].toUpperCase() + t.slice(1)));
  const status = h("div", { id: "status", class: "status", role: "status" });
  const result = h("div", { id: "result", role: "tabpanel" });
  let tab = params.get("tab") || "graph";

  const toLocal = (s: number) => { const d = new Date(s * 1000); d.setMinutes(d.getMinutes() - d.getTimezoneOffset()); return d.toISOString().slice(0, 19); };
  const now = Math.floor(Date.now() / 1000);
  from.value = toLocal(Number(params.get("from")) || now - 3600);
  to.value = toLocal(Number(params.get("to")) || now);
  const showAbs = () => { absBox.hidden = range.value !== "abs"; };
  showAbs();

  root.append(h("section", { class: "query" },
    h("div", { class: "editor" }, q, ac, lint),
    h("div", { class: "controls" },
      h("label", { for: "range" }, "Range "), range, absBox,
      h("label", { for: "step" }, " Step "), step,
      h("label", { class: "check" }, stacked, " Stacked"),
      run),
    h("div", { role: "tablist", "aria-label": "Result view", class: "tabs" }, ...tabs),
    status, result));

  function window_(): [number, number] {
    if (range.value === "abs") {
      const f = Math.floor(new Date(from.value).getTime() / 1000), t = Math.floor(new Date(to.value).getTime() / 1000);
      return [f, Math.max(t, f + 1)];
    }
    const secs = (RANGES.find(([n]) => n === range.value) || RANGES[2])[1];
    const end = Math.floor(Date.now() / 1000);
    return [end - secs, end];
  }
  function stepSecs(start: number, end: number): number {
    const s = step.value.trim();
    if (s) {
      const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(s);
      if (m) return Number(m[1]) * ({ ms: 0.001, s: 1, m: 60, h: 3600, d: 86400 } as any)[m[2] || "s"];
    }
    return Math.max(1, Math.ceil((end - start) / 250));
  }
  function saveURL() {
    const p = new URLSearchParams();
    if (q.value) p.set("q", q.value);
    if (range.value === "abs") { const [f, t] = window_(); p.set("from", String(f)); p.set("to", String(t)); }
    else p.set("range", range.value);
    if (step.value) p.set("step", step.value);
    if (stacked.checked) p.set("stacked", "1");
    p.set("tab", tab);
    setParams("query", p);
  }
  function selectTab(t: string) {
    tab = t;
    for (const b of tabs) b.setAttribute("aria-selected", String(b.dataset.tab === t));
  }
  selectTab(tab);

  async function execute() {
    closeAC();
    saveURL();
    if (!q.value.trim()) { result.replaceChildren(h("p", { class: "hint" }, "Type a PromQL query and press Enter.")); return; }
    ctl?.abort();
    ctl = new AbortController();
    const [start, end] = window_();
    const st = stepSecs(start, end);
    status.textContent = "running…";
    const t0 = performance.now();
    try {
      if (tab === "table") {
        const { data, warnings } = await api("/api/v1/query", { query: q.value, time: String(end) }, ctl.signal, true);
        renderTable(data);
        done(t0, warnings, rows(data));
      } else {
        const p: Record<string, string> = { query: q.value, start: String(start), end: String(end), step: String(st) };
        if (tab === "explain") p.explain = "1";
        const { data, warnings } = await api("/api/v1/query_range", p, ctl.signal, true);
        if (tab === "explain") renderExplain(data);
        else renderGraph(data, start, end, st);
        done(t0, warnings, rows(data));
      }
    } catch (e: any) {
      if (e.name === "AbortError") return;
      status.textContent = "";
      result.replaceChildren(errorBox(e instanceof APIError ? e.message : String(e)));
    }
  }
  function rows(data: any): number { return Array.isArray(data?.result) ? data.result.length : 1; }
  function done(t0: number, warnings: string[] | undefined, n: number) {
    status.replaceChildren(`${n} series · ${Math.round(performance.now() - t0)} ms`,
      ...(warnings || []).map(w => h("div", { class: "warning" }, "warning: " + w)));
  }

  function renderTable(data: any) {
    const tbl = h("table", { class: "data" }, h("caption", {}, "Instant query at the end of the range"),
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Series"), h("th", { scope: "col" }, "Value"))));
    const body = h("tbody");
    const res = data.resultType === "scalar" || data.resultType === "string" ? [{ metric: {}, value: data.result }] : data.result;
    for (const r of res) {
      const v = r.value ? r.value[1] : r.values ? r.values[r.values.length - 1][1] : "";
      body.append(h("tr", {}, h("td", {}, labelsText(r.metric)), h("td", { class: "num" }, v)));
    }
    tbl.append(body);
    result.replaceChildren(tbl);
  }
  function renderExplain(data: any) {
    result.replaceChildren(h("pre", { class: "explain", tabindex: 0, "aria-label": "Explain plan" },
      JSON.stringify(data.explain ?? "the server returned no plan", null, 2)));
  }
  function renderGraph(data: any, start: number, end: number, st: number) {
    chart?.destroy();
    chart = null;
    const res: any[] = data.resultType === "matrix" ? data.result : [];
    if (!res.length) { result.replaceChildren(h("p", { class: "hint" }, "No data in this range.")); return; }
    const xs: number[] = [];
    for (let t = start; t <= end + 1e-9; t += st) xs.push(Math.round(t * 1000) / 1000);
    const index = new Map(xs.map((t, i) => [t, i]));
    let ys = res.map(r => {
      const y: (number | null)[] = new Array(xs.length).fill(null);
      for (const [t, v] of r.values) { const i = index.get(Math.round(t * 1000) / 1000); if (i !== undefined) y[i] = Number(v); }
      return y;
    });
    if (stacked.checked) {
      const acc = new Array(xs.length).fill(0);
      ys = ys.map(y => y.map((v, i) => (v === null ? null : (acc[i] += v))));
    }
    const el = h("div", { class: "chart", role: "img", "aria-label": `Graph of ${res.length} series` });
    result.replaceChildren(el);
    const opts: uPlot.Options = {
      width: Math.max(300, el.clientWidth || root.clientWidth - 32), height: 360,
      series: [{ label: "time" }, ...res.map((r, i) => ({
        label: labelsText(r.metric), stroke: PALETTE[i % PALETTE.length], width: 1.5,
        fill: stacked.checked ? PALETTE[i % PALETTE.length] + "33" : undefined, spanGaps: false,
      }))],
      axes: [{}, { size: 70 }],
      cursor: { drag: { x: true, y: false, setScale: false } },
      hooks: {
        setSelect: [(u: uPlot) => {
          if (u.select.width < 5) return;
          const f = Math.floor(u.posToVal(u.select.left, "x")), t = Math.ceil(u.posToVal(u.select.left + u.select.width, "x"));
          u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
          range.value = "abs"; showAbs();
          from.value = toLocal(f); to.value = toLocal(t);
          step.value = "";
          execute();
        }],
      },
      legend: { live: true },
    };
    chart = new uPlot(opts, [xs, ...ys] as uPlot.AlignedData, el);
  }

  // Autocomplete.
  function closeAC() { ac.hidden = true; q.setAttribute("aria-expanded", "false"); q.removeAttribute("aria-activedescendant"); acItems = []; acIndex = -1; }
  function showAC() {
    ac.replaceChildren(...acItems.map((s, i) => h("li", { role: "option", id: "ac-" + i, "aria-selected": String(i === acIndex), onmousedown: (e: Event) => { e.preventDefault(); choose(i); } }, s)));
    ac.hidden = acItems.length === 0;
    q.setAttribute("aria-expanded", String(!ac.hidden));
    if (acIndex >= 0) q.setAttribute("aria-activedescendant", "ac-" + acIndex); else q.removeAttribute("aria-activedescendant");
  }
  async function complete(force: boolean) {
    const w = want(q.value, q.selectionStart ?? q.value.length);
    const seq = ++acSeq;
    if (!w || (!force && w.kind === "metric" && w.prefix.length < 1)) { closeAC(); return; }
    try {
      const list = await candidates(w);
      if (seq !== acSeq) return;
      acWant = w; acItems = list; acIndex = list.length ? 0 : -1;
      showAC();
    } catch { closeAC(); }
  }
  function choose(i: number) {
    if (!acWant || i < 0 || i >= acItems.length) return;
    const [text, pos] = apply(q.value, q.selectionStart ?? q.value.length, acWant, acItems[i]);
    q.value = text;
    q.setSelectionRange(pos, pos);
    closeAC();
    q.focus();
    lintSoon();
  }
  function lintSoon() {
    clearTimeout(lintTimer);
    lintTimer = window.setTimeout(async () => {
      if (!q.value.trim()) { lint.replaceChildren(); return; }
      try {
        await api("/api/v1/format_query", { query: q.value }, undefined, true);
        lint.replaceChildren();
        q.removeAttribute("aria-invalid");
      } catch (e: any) {
        if (e instanceof APIError && e.status === 400) {
          lint.replaceChildren(h("span", { class: "error", role: "alert" }, e.message.replace(/^invalid parameter "query": /, "")));
          q.setAttribute("aria-invalid", "true");
        }
      }
    }, 250);
  }
  q.addEventListener("input", () => { complete(false); lintSoon(); });
  q.addEventListener("blur", () => setTimeout(closeAC, 150));
  q.addEventListener("keydown", (e: KeyboardEvent) => {
    const open = !ac.hidden && acItems.length > 0;
    if (e.key === "ArrowDown" && open) { acIndex = (acIndex + 1) % acItems.length; showAC(); e.preventDefault(); }
    else if (e.key === "ArrowUp" && open) { acIndex = (acIndex - 1 + acItems.length) % acItems.length; showAC(); e.preventDefault(); }
    else if ((e.key === "Tab" || e.key === "Enter") && open && acIndex >= 0) { choose(acIndex); e.preventDefault(); }
    else if (e.key === "Escape" && open) { closeAC(); e.preventDefault(); }
    else if (e.key === " " && e.ctrlKey) { complete(true); e.preventDefault(); }
    else if (e.key === "Enter" && !e.shiftKey) { execute(); e.preventDefault(); }
  });
  run.addEventListener("click", execute);
  range.addEventListener("change", () => { showAbs(); execute(); });
  from.addEventListener("change", execute);
  to.addEventListener("change", execute);
  step.addEventListener("change", execute);
  stacked.addEventListener("change", execute);
  for (const b of tabs) b.addEventListener("click", () => { selectTab(b.dataset.tab!); execute(); });
  const onResize = () => { if (chart) chart.setSize({ width: Math.max(300, result.clientWidth), height: 360 }); };
  window.addEventListener("resize", onResize);

  if (q.value) execute(); else result.append(h("p", { class: "hint" }, "Type a PromQL query and press Enter. Tab or Enter accepts a completion, Ctrl+Space asks for one."));
  q.focus();
  return () => { ctl?.abort(); chart?.destroy(); window.removeEventListener("resize", onResize); clearTimeout(lintTimer); };
}
