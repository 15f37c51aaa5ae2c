// Charts: the adoption curve with uPlot (canvas: no inline script or
// style, so the page's CSP holds), and plain HTML bars for the rest, which
// read well on a phone and need no legend.
import uPlot from "uplot";
import { h } from "./dom.js";

const PALETTE = ["#2563eb", "#16a34a", "#dc2626", "#9333ea", "#ea580c", "#0891b2", "#ca8a04", "#db2777", "#4b5563", "#65a30d"];
export const color = (i) => PALETTE[i % PALETTE.length];

// adoptionChart(container) → {update(report), destroy()}: active devices
// per version per bucket, plus all devices heard from (dashed). The chart
// is rebuilt only when the set of versions changes; otherwise new data is
// swapped in, so a 5 s poll does not flicker.
export function adoptionChart(container) {
  let u = null;
  let key = "";
  const ro = new ResizeObserver(() => u && u.setSize(size()));
  ro.observe(container);

  function size() {
    const w = Math.max(240, container.clientWidth);
    return { width: w, height: w < 500 ? 220 : 300 };
  }

  const STEP = { minute: 60, hour: 3600, day: 86400 };
  let xRange = null; // the query's [from, to]: one bucket alone would otherwise span years

  function update(report) {
    const points = report.adoption || [];
    if (!points.length) {
      destroy();
      container.replaceChildren(h("p", { class: "muted" }, "No device heard from in this range."));
      return;
    }
    const order = (report.versions || []).map((v) => v.version);
    const seen = new Set();
    for (const p of points) for (const v of Object.keys(p.versions || {})) seen.add(v);
    const versions = [...order.filter((v) => seen.has(v)), ...[...seen].filter((v) => !order.includes(v)).sort()];

    // Every bucket of the range on the x axis; buckets without a report
    // are gaps (null), so a quiet night is not drawn as a straight line.
    const q = report.query || {};
    const step = STEP[q.resolution];
    const byT = new Map(points.map((p) => [p.t, p]));
    let xs = points.map((p) => p.t);
    if (step && q.from && q.to && (q.to - q.from) / step <= 2000) {
      xs = [];
      for (let t = Math.floor(q.from / step) * step; t < q.to; t += step) xs.push(t);
      const grid = new Set(xs);
      for (const p of points) if (!grid.has(p.t)) xs.push(p.t);
      xs.sort((a, b) => a - b);
      xRange = [xs[0], Math.max(q.to, xs[xs.length - 1])];
    } else {
      xRange = null;
    }
    const col = (f) => xs.map((t) => (byT.has(t) ? f(byT.get(t)) : null));
    const data = [xs, col((p) => p.total), ...versions.map((v) => col((p) => p.versions?.[v] ?? 0))];

    // Points are drawn while buckets with data are few: a lone bucket
    // would otherwise be a line of length zero, invisible.
    const few = points.length < 60;
    const k = `${few}\n${versions.join("\n")}`;
    if (u && k === key) {
      u.setData(data);
      return;
    }
    destroy();
    container.replaceChildren();
    key = k;
    u = new uPlot(
      {
        ...size(),
        class: "adoption",
        cursor: { points: { size: 6 } },
        legend: { live: true },
        scales: {
          x: { time: true, range: (_u, min, max) => xRange || [min, max] },
          y: { range: (_u, _min, max) => [0, Math.max(1, max * 1.1)] },
        },
        axes: [{}, { label: "devices", size: 56 }],
        series: [
          { label: "time" },
          { label: "all devices", stroke: "#6b7280", dash: [6, 4], width: 1.5, points: { show: few } },
          ...versions.map((v, i) => ({ label: v, stroke: color(i), width: 2, points: { show: few, fill: color(i) } })),
        ],
      },
      data,
      container,
    );
  }

  function destroy() {
    u?.destroy();
    u = null;
    key = "";
  }
  return {
    update,
    destroy() {
      destroy();
      ro.disconnect();
    },
  };
}

// bars(rows, {max, fmt}) → a list of labelled horizontal bars. rows:
// [{label, value, text?, cls?}]; max defaults to the largest value.
export function bars(rows, opts = {}) {
  const max = opts.max ?? Math.max(1, ...rows.map((r) => r.value));
  return h(
    "ul",
    { class: "bars" },
    rows.map((r) => {
      const fill = h("span", { class: `fill ${r.cls || ""}` });
      fill.style.width = `${max > 0 ? Math.max(0, Math.min(100, (r.value / max) * 100)) : 0}%`;
      return h(
        "li",
        {},
        h("span", { class: "label mono", title: r.label }, r.label),
        h("span", { class: "track", "aria-hidden": "true" }, fill),
        h("span", { class: "value" }, r.text ?? String(r.value)),
      );
    }),
  );
}

// countBars(obj): bars of a {name: count} map, largest first.
export function countBars(obj, emptyText = "none") {
  const rows = Object.entries(obj || {})
    .filter(([, n]) => n > 0)
    .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
    .map(([label, value]) => ({ label: label || "(unknown)", value, cls: "bad" }));
  return rows.length ? bars(rows) : h("p", { class: "muted" }, emptyText);
}
