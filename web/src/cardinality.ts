// The cardinality page: top metrics, label names and label-value pairs by
// series count (/api/v1/status/tsdb), a drill-down from a metric to its
// labels and values, and what grew: each metric's series today against
// yesterday (UTC days; status/tsdb?date=, the series of that day's
// partitions).
import { api, errorBox, fmtNum, h, setParams } from "./api";

type Entry = { name: string; value: number };

// DAY_LIMIT bounds the per-day lists the growth is computed from.
const DAY_LIMIT = 1000;

const utcDay = (offsetDays: number) => new Date(Date.now() + offsetDays * 86_400_000).toISOString().slice(0, 10);

export function cardinalityPage(root: HTMLElement, params: URLSearchParams): () => void {
  const ctl = new AbortController();
  const limit = h("select", { id: "limit", "aria-label": "How many entries per table" }, ...[10, 20, 50, 100].map(n => h("option", { value: n }, "top " + n)));
  limit.value = params.get("limit") || "20";
  const head = h("p", { id: "head", class: "status", role: "status" }, "loading…");
  const body = h("div", { class: "cards" });
  const drill = h("section", { id: "drill", "aria-live": "polite" });
  root.append(h("section", {}, h("h1", {}, "Cardinality"), h("div", { class: "controls" }, limit), head, body, drill));

  async function load() {
    const p = new URLSearchParams({ limit: limit.value });
    if (params.get("metric")) p.set("metric", params.get("metric")!);
    setParams("cardinality", p);
    try {
      const { data } = await api("/api/v1/status/tsdb", { limit: limit.value }, ctl.signal);
      const [today, yesterday] = await Promise.all([utcDay(0), utcDay(-1)].map(date =>
        api("/api/v1/status/tsdb", { limit: String(DAY_LIMIT), date }, ctl.signal).then(({ data }) => data.seriesCountByMetricName as Entry[])));
      const growth = (name: string): number | undefined => {
        const t = today.find(e => e.name === name)?.value, y = yesterday.find(e => e.name === name)?.value;
        if (t === undefined && today.length >= DAY_LIMIT) return undefined; // past the day lists: unknown
        if (y === undefined && yesterday.length >= DAY_LIMIT) return undefined;
        return (t ?? 0) - (y ?? 0);
      };
      const hs = data.headStats || {};
      head.replaceChildren(`${fmtNum(hs.numSeries ?? 0)} series, ${fmtNum(hs.numLabelPairs ?? 0)} label pairs · growth: series with samples today against yesterday (UTC)`);
      body.replaceChildren(
        table("Series by metric", "top-metrics", data.seriesCountByMetricName, growth, name => drillDown(name)),
        table("Distinct values by label name", "top-labels", data.labelValueCountByLabelName),
        table("Series by label pair", "top-pairs", data.seriesCountByLabelValuePair));
      if (params.get("metric")) drillDown(params.get("metric")!);
    } catch (e: any) {
      if (e.name !== "AbortError") head.replaceChildren(errorBox(e.message));
    }
  }

  function table(title: string, id: string, rows: Entry[], growth?: (name: string) => number | undefined, onPick?: (name: string) => void): HTMLElement {
    const max = Math.max(1, ...rows.map(r => r.value));
    return h("table", { class: "data card", id },
      h("caption", {}, title),
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Name"), h("th", { scope: "col" }, "Count"), growth ? h("th", { scope: "col" }, "Today vs yesterday") : null)),
      h("tbody", {}, ...rows.map(r => {
        const grew = growth ? growth(r.name) ?? 0 : 0;
        return h("tr", { class: grew > 0 ? "grew" : undefined },
          h("td", {}, onPick ? h("button", { type: "button", class: "link", onclick: () => onPick(r.name), "aria-label": `Drill down into ${r.name}` }, r.name) : r.name),
          h("td", { class: "num" }, h("span", { class: "bar", style: `width:${Math.round(60 * r.value / max)}px`, "aria-hidden": "true" }), fmtNum(r.value)),
          growth ? h("td", { class: "num growth" }, grew > 0 ? "▲ +" + fmtNum(grew) : grew < 0 ? "▼ " + fmtNum(grew) : "") : null);
      })));
  }

  async function drillDown(metric: string) {
    const p = new URLSearchParams({ limit: limit.value, metric });
    setParams("cardinality", p);
    drill.replaceChildren(h("h2", {}, "Labels of " + metric), h("p", { class: "status" }, "loading…"));
    try {
      const match = { "match[]": `{__name__=${JSON.stringify(metric)}}` };
      const { data: labels } = await api<string[]>("/api/v1/labels", match, ctl.signal);
      const rows = await Promise.all(labels.filter(l => l !== "__name__").map(async l => {
        const { data: vals } = await api<string[]>(`/api/v1/label/${encodeURIComponent(l)}/values`, match, ctl.signal);
        return { l, vals };
      }));
      rows.sort((a, b) => b.vals.length - a.vals.length);
      drill.replaceChildren(h("h2", {}, "Labels of " + metric),
        h("table", { class: "data", id: "drill-table" },
          h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Label"), h("th", { scope: "col" }, "Values"), h("th", { scope: "col" }, "Examples"))),
          h("tbody", {}, ...rows.map(r => h("tr", {}, h("td", {}, r.l), h("td", { class: "num" }, fmtNum(r.vals.length)),
            h("td", {}, r.vals.slice(0, 8).join(", ") + (r.vals.length > 8 ? ", …" : "")))))));
    } catch (e: any) {
      if (e.name !== "AbortError") drill.replaceChildren(errorBox(e.message));
    }
  }

  limit.addEventListener("change", load);
  load();
  return () => ctl.abort();
}
