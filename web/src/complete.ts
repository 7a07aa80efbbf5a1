// PromQL autocomplete: what the text before the cursor asks for, and the
// candidates from the API (metric names, label names, label values).
import { api } from "./api";

export type Want = { kind: "metric" | "label" | "value"; prefix: string; label?: string; metric?: string; start: number };

const FUNCS = ["abs", "absent", "absent_over_time", "avg", "avg_over_time", "bottomk", "ceil", "changes", "clamp", "clamp_max", "clamp_min",
  "count", "count_over_time", "count_values", "delta", "deriv", "exp", "floor", "group", "histogram_quantile", "holt_winters", "idelta",
  "increase", "irate", "label_join", "label_replace", "last_over_time", "ln", "log10", "log2", "max", "max_over_time", "min",
  "min_over_time", "predict_linear", "present_over_time", "quantile", "quantile_over_time", "rate", "resets", "round", "scalar",
  "sgn", "sort", "sort_desc", "sqrt", "stddev", "stddev_over_time", "stdvar", "sum", "sum_over_time", "time", "timestamp", "topk", "vector"];

// want reads what the cursor at pos in text completes, or null.
export function want(text: string, pos: number): Want | null {
  const before = text.slice(0, pos);
  let depth = 0, quote = "", qStart = -1, braceStart = -1;
  for (let i = 0; i < before.length; i++) {
    const c = before[i];
    if (quote) {
      if (c === "\\") { i++; continue; }
      if (c === quote) quote = "";
      continue;
    }
    if (c === '"' || c === "'" || c === "`") { quote = c; qStart = i; continue; }
    if (c === "{") { depth++; braceStart = i; }
    if (c === "}") depth = Math.max(0, depth - 1);
  }
  if (quote) {
    if (depth === 0) return null;
    const m = /([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*$/.exec(before.slice(0, qStart));
    if (!m) return null;
    return { kind: "value", label: m[1], prefix: before.slice(qStart + 1), start: qStart + 1, metric: metricBefore(before, braceStart) };
  }
  const word = /[a-zA-Z_:][a-zA-Z0-9_:]*$/.exec(before);
  const prefix = word ? word[0] : "";
  const start = pos - prefix.length;
  if (/\[[^\]]*$/.test(before)) return null; // inside a range [5m]
  if (depth > 0) {
    const tail = before.slice(braceStart + 1, start);
    if (/(=~|!~|!=|=)\s*$/.test(tail)) return null; // a value must be quoted
    return { kind: "label", prefix, start, metric: metricBefore(before, braceStart) };
  }
  if (/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*$/.test(before)) return { kind: "label", prefix, start };
  if (/[0-9.]$/.test(before.slice(0, start)) && !prefix) return null;
  if (!prefix && !/(^|[\s(,+\-*/%^=<>])$/.test(before)) return null;
  return { kind: "metric", prefix, start };
}

function metricBefore(text: string, brace: number): string | undefined {
  const m = /([a-zA-Z_:][a-zA-Z0-9_:]*)\s*$/.exec(text.slice(0, brace));
  return m ? m[1] : undefined;
}

const cache = new Map<string, { at: number; list: string[] }>();
async function cached(key: string, fetcher: () => Promise<string[]>): Promise<string[]> {
  const c = cache.get(key);
  if (c && Date.now() - c.at < 30_000) return c.list;
  const list = await fetcher();
  cache.set(key, { at: Date.now(), list });
  return list;
}

// candidates returns up to limit completions for w: prefix matches first,
// then substring matches.
export async function candidates(w: Want, limit = 30): Promise<string[]> {
  let list: string[];
  if (w.kind === "metric") {
    const names = await cached("__name__", async () => (await api<string[]>("/api/v1/label/__name__/values")).data);
    list = [...names, ...FUNCS];
  } else if (w.kind === "label") {
    const key = "labels:" + (w.metric || "");
    list = await cached(key, async () => {
      const p: Record<string, string> = w.metric ? { "match[]": w.metric } : {};
      return (await api<string[]>("/api/v1/labels", p)).data.filter(l => l !== "__name__");
    });
  } else {
    const key = "values:" + w.label + ":" + (w.metric || "");
    list = await cached(key, async () => {
      const p: Record<string, string> = w.metric ? { "match[]": w.metric } : {};
      return (await api<string[]>(`/api/v1/label/${encodeURIComponent(w.label!)}/values`, p)).data;
    });
  }
  const lp = w.prefix.toLowerCase();
  const starts = list.filter(s => s.toLowerCase().startsWith(lp));
  const inside = lp ? list.filter(s => !s.toLowerCase().startsWith(lp) && s.toLowerCase().includes(lp)) : [];
  return [...new Set([...starts, ...inside])].slice(0, limit);
}

// apply inserts choice for w into text; it returns the new text and
// cursor position.
export function apply(text: string, pos: number, w: Want, choice: string): [string, number] {
  let ins = choice;
  let end = pos;
  if (w.kind === "value") {
    ins = choice.replace(/\\/g, "\\\\").replace(/"/g, '\\"');
    const q = text[w.start - 1];
    if (text[pos] === q) end = pos + 1;
    ins += q;
  } else {
    const m = /^[a-zA-Z0-9_:]*/.exec(text.slice(pos));
    end = pos + (m ? m[0].length : 0);
  }
  return [text.slice(0, w.start) + ins + text.slice(end), w.start + ins.length];
}
