// The ingestion page: the server's own metrics (/metrics), polled every
// 5 s, as rates over the last interval: samples/s per protocol, errors by
// reason, MQTT clients and messages, WAL fsync latency, the memtable,
// flushes and compactions, and the partitions on disk.
import uPlot from "uplot";
import { api, errorBox, fmtBytes, fmtNum, getText, h } from "./api";
import { parseMetrics, quantile, Sample, sumBy } from "./metrics";

const POLL_MS = 5000;

export function ingestionPage(root: HTMLElement): () => void {
  const ctl = new AbortController();
  let prev: { at: number; ss: Sample[] } | null = null;
  let timer = 0;
  let polledTwice = 0;
  const hist: { t: number[]; series: Map<string, (number | null)[]> } = { t: [], series: new Map() };
  let chart: uPlot | null = null;

  const status = h("p", { id: "ing-status", class: "status", role: "status" }, "loading…");
  const cards = h("div", { class: "cards", id: "ing-cards" });
  const chartBox = h("div", { class: "chart", id: "ing-chart", role: "img", "aria-label": "Samples per second by protocol, live" });
  const disk = h("div", { id: "disk" });
  root.append(h("section", {}, h("h1", {}, "Ingestion"), status, chartBox, cards, h("h2", {}, "Disk"), disk));

  function card(title: string, id: string, rows: [string, string][]): HTMLElement {
    return h("table", { class: "data card", id },
      h("caption", {}, title),
      h("tbody", {}, ...(rows.length ? rows : [["—", ""]] as [string, string][]).map(([k, v]) => h("tr", {}, h("th", { scope: "row" }, k), h("td", { class: "num" }, v)))));
  }

  async function poll() {
    try {
      const text = await getText("/metrics", ctl.signal);
      const now = Date.now();
      const ss = parseMetrics(text);
      render(ss, now);
      prev = { at: now, ss };
      status.textContent = `updated ${new Date(now).toLocaleTimeString()} · every ${POLL_MS / 1000} s`;
    } catch (e: any) {
      if (e.name === "AbortError") return;
      status.replaceChildren(errorBox(e.message));
    }
    try {
      const { data } = await api("/api/v1/status/storage", {}, ctl.signal);
      renderDisk(data);
    } catch (e: any) {
      if (e.name !== "AbortError") disk.replaceChildren(errorBox(e.message));
    }
    // The first rates need a second reading: take it soon.
    timer = window.setTimeout(poll, hist.t.length === 0 && prev && !polledTwice++ ? 1000 : POLL_MS);
  }

  function rate(ss: Sample[], name: string, by = "", want: Record<string, string> = {}): Map<string, number> {
    const cur = sumBy(ss, name, by, want);
    if (!prev) return new Map([...cur].map(([k]) => [k, NaN]));
    const old = sumBy(prev.ss, name, by, want);
    const dt = (Date.now() - prev.at) / 1000;
    return new Map([...cur].map(([k, v]) => [k, Math.max(0, v - (old.get(k) ?? v)) / dt]));
  }
  const one = (m: Map<string, number>) => [...m.values()].reduce((a, b) => a + b, 0);
  const show = (v: number, unit = "") => (isNaN(v) ? "…" : fmtNum(v) + unit);

  function render(ss: Sample[], now: number) {
    const perProto = rate(ss, "lightningdb_ingest_samples_received_total", "protocol");
    const mqttRate = rate(ss, "lightningdb_mqtt_samples_stored_total");
    if (sumBy(ss, "lightningdb_mqtt_samples_stored_total").size) perProto.set("mqtt", one(mqttRate));
    const protoRows: [string, string][] = [...perProto].map(([k, v]) => [k === "influx" ? "line protocol" : k === "prometheus" ? "remote write" : k, show(v, "/s")]);

    const errRows: [string, string][] = [];
    for (const [name, by, what] of [["lightningdb_ingest_lines_rejected_total", "protocol", "lines rejected"],
      ["lightningdb_ingest_samples_rejected_total", "protocol", "samples rejected"],
      ["lightningdb_engine_rejected_series_by_reason_total", "reason", "series rejected"],
      ["lightningdb_mqtt_parse_errors_total", "reason", "MQTT payloads"],
      ["lightningdb_http_rejected_requests_total", "reason", "HTTP requests refused"]] as [string, string, string][]) {
      for (const [k, v] of sumBy(ss, name, by)) if (v > 0) errRows.push([`${what}: ${k || "all"}`, fmtNum(v) + " total"]);
    }

    if (!errRows.length) errRows.push(["none", ""]);
    const mqttRows: [string, string][] = [];
    const clients = sumBy(ss, "lightningdb_mqtt_clients_connected");
    if (clients.size) mqttRows.push(["clients connected", fmtNum(one(clients))]);
    const msgs = rate(ss, "lightningdb_mqtt_messages_received_total", "filter");
    for (const [k, v] of msgs) mqttRows.push([`messages/s ${k ? "on " + k : ""}`.trim(), show(v, "/s")]);
    const retained = sumBy(ss, "lightningdb_mqtt_retained_messages");
    if (retained.size) mqttRows.push(["retained messages", fmtNum(one(retained))]);

    const fsync: [number, number][] = [];
    for (const s of ss) if (s.name === "lightningdb_engine_wal_fsync_duration_seconds_bucket") {
      const le = s.labels.le === "+Inf" ? Infinity : Number(s.labels.le);
      const old = prev?.ss.find(p => p.name === s.name && p.labels.le === s.labels.le)?.value ?? 0;
      fsync.push([le, s.value - old]);
    }
    const dSum = one(sumBy(ss, "lightningdb_engine_wal_fsync_duration_seconds_sum")) - (prev ? one(sumBy(prev.ss, "lightningdb_engine_wal_fsync_duration_seconds_sum")) : 0);
    const dCount = one(sumBy(ss, "lightningdb_engine_wal_fsync_duration_seconds_count")) - (prev ? one(sumBy(prev.ss, "lightningdb_engine_wal_fsync_duration_seconds_count")) : 0);
    const walRows: [string, string][] = [
      ["fsyncs/s", show(one(rate(ss, "lightningdb_engine_wal_fsyncs_total")), "/s")],
      ["fsync mean", dCount > 0 ? (1000 * dSum / dCount).toFixed(2) + " ms" : "—"],
      ["fsync p99", dCount > 0 ? (1000 * quantile(0.99, fsync)).toFixed(2) + " ms" : "—"],
      ["WAL written", show(one(rate(ss, "lightningdb_engine_wal_written_bytes_total")) / 1024, " KiB/s")],
    ];
    const engRows: [string, string][] = [
      ["series", fmtNum(one(sumBy(ss, "lightningdb_engine_series")))],
      ["memtable", fmtBytes(one(sumBy(ss, "lightningdb_engine_memtable_bytes")))],
      ["flushes", fmtNum(one(sumBy(ss, "lightningdb_engine_flushes_total"))) + " total"],
      ["flush failures", fmtNum(one(sumBy(ss, "lightningdb_engine_flush_failures_total"))) + " total"],
      ["compactions", fmtNum(one(sumBy(ss, "lightningdb_engine_compactions_total"))) + " total"],
      ["compacted", show(one(rate(ss, "lightningdb_engine_compacted_samples_total")), " samples/s")],
      ["quarantined segments", fmtNum(one(sumBy(ss, "lightningdb_engine_quarantined_segments")))],
    ];
    cards.replaceChildren(card("Samples stored per second", "ing-protocols", protoRows), card("Errors", "ing-errors", errRows),
      card("MQTT", "ing-mqtt", mqttRows), card("WAL", "ing-wal", walRows), card("Engine", "ing-engine", engRows));

    if (prev) {
      hist.t.push(now / 1000);
      for (const [k, v] of perProto) {
        if (!hist.series.has(k)) hist.series.set(k, new Array(hist.t.length - 1).fill(null));
      }
      for (const [k, arr] of hist.series) arr.push(perProto.get(k) ?? null);
      if (hist.t.length > 120) { hist.t.shift(); for (const a of hist.series.values()) a.shift(); }
      drawChart();
    }
  }

  function drawChart() {
    const names = [...hist.series.keys()];
    const data = [hist.t, ...names.map(n => hist.series.get(n)!)] as uPlot.AlignedData;
    if (chart && chart.series.length === names.length + 1) { chart.setData(data); return; }
    chart?.destroy();
    const colors = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728"];
    chart = new uPlot({
      width: Math.max(300, chartBox.clientWidth || 600), height: 200,
      series: [{ label: "time" }, ...names.map((n, i) => ({ label: n + " samples/s", stroke: colors[i % colors.length], width: 1.5 }))],
      axes: [{}, { size: 70 }],
    }, data, chartBox);
  }

  function renderDisk(data: any) {
    const free = prev ? one(sumBy(prev.ss, "lightningdb_data_dir_free_bytes")) : 0;
    const size = prev ? one(sumBy(prev.ss, "lightningdb_data_dir_size_bytes")) : 0;
    const tiers: [string, any][] = [["raw", data.raw], ...Object.entries(data.rollup_tiers || {}).map(([k, v]) => ["rollup " + k, v] as [string, any])];
    const rows = tiers.flatMap(([name, rep]) => (rep?.partitions || []).map((p: any) => h("tr", {},
      h("td", {}, name), h("td", {}, new Date(p.start / 1e6).toISOString().slice(0, 16).replace("T", " ")),
      h("td", { class: "num" }, String(p.segments?.length ?? 0)), h("td", { class: "num" }, fmtNum(p.series)),
      h("td", { class: "num" }, fmtNum(p.samples)), h("td", { class: "num" }, fmtBytes(p.bytes)),
      h("td", { class: "num" }, p.samples ? (p.bytes / p.samples).toFixed(3) : "—"))));
    const out: HTMLElement[] = [h("table", { class: "data", id: "disk-table" },
      h("thead", {}, h("tr", {}, ...["Data", "Partition", "Segments", "Series", "Samples", "Bytes", "Bytes/sample"].map(c => h("th", { scope: "col" }, c)))),
      h("tbody", {}, ...rows))];
    if (!rows.length) out.push(h("p", { class: "hint" }, "No segments yet: recent samples are in the memtable and the WAL until the first flush."));
    if (size || free) out.push(h("p", { class: "status" }, `data directory ${fmtBytes(size)}` + (free ? `, ${fmtBytes(free)} free on its file system` : "")));
    disk.replaceChildren(...out);
  }

  poll();
  return () => { ctl.abort(); clearTimeout(timer); chart?.destroy(); };
}
