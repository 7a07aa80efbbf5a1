// A parser of the Prometheus text exposition format, enough for the
// server's own /metrics: samples with labels, comments skipped.

export type Sample = { name: string; labels: Record<string, string>; value: number };

export function parseMetrics(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split("\n")) {
    if (!line || line[0] === "#") continue;
    let i = 0;
    while (i < line.length && line[i] !== "{" && line[i] !== " ") i++;
    const name = line.slice(0, i);
    const labels: Record<string, string> = {};
    if (line[i] === "{") {
      i++;
      while (i < line.length && line[i] !== "}") {
        const eq = line.indexOf("=", i);
        if (eq < 0) break;
        const key = line.slice(i, eq).trim();
        let j = eq + 2, v = "";
        for (; j < line.length && line[j] !== '"'; j++) {
          if (line[j] === "\\" && j + 1 < line.length) { j++; v += line[j] === "n" ? "\n" : line[j]; } else v += line[j];
        }
        labels[key] = v;
        i = j + 1;
        if (line[i] === ",") i++;
      }
      i++;
    }
    const rest = line.slice(i).trim().split(/\s+/);
    const value = Number(rest[0] === "+Inf" ? Infinity : rest[0] === "-Inf" ? -Infinity : rest[0]);
    if (name) out.push({ name, labels, value });
  }
  return out;
}

// sum adds the samples of name whose labels match want, grouped by the
// label by ("" = one group).
export function sumBy(ss: Sample[], name: string, by = "", want: Record<string, string> = {}): Map<string, number> {
  const m = new Map<string, number>();
  for (const s of ss) {
    if (s.name !== name) continue;
    if (Object.entries(want).some(([k, v]) => s.labels[k] !== v)) continue;
    const k = by ? s.labels[by] ?? "" : "";
    m.set(k, (m.get(k) ?? 0) + s.value);
  }
  return m;
}

// quantile estimates the q-quantile of a histogram's bucket increases
// (le -> count), as histogram_quantile does.
export function quantile(q: number, buckets: [number, number][]): number {
  buckets.sort((a, b) => a[0] - b[0]);
  const total = buckets.length ? buckets[buckets.length - 1][1] : 0;
  if (total <= 0) return NaN;
  const rank = q * total;
  let prevLe = 0, prevC = 0;
  for (const [le, c] of buckets) {
    if (c >= rank) {
      if (!isFinite(le)) return prevLe;
      return prevLe + (le - prevLe) * (c - prevC > 0 ? (rank - prevC) / (c - prevC) : 0);
    }
    prevLe = le; prevC = c;
  }
  return prevLe;
}
