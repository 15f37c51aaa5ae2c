// #/apps/{app}/analytics[?range=6h]: release analytics from
// GET /api/v1/apps/{app}/analytics (from/to in Unix seconds, resolution),
// polled every 5 s while the tab is visible. The range is in the URL so a
// view can be shared as it is.
import { api, appPath } from "../api.js";
import { adoptionChart, bars, countBars } from "../charts.js";
import { duration, errorBox, h, pct, replace, table } from "../dom.js";
import { href } from "../router.js";

// Minute buckets are kept 48 h; hour buckets make a 24 h or 7 d chart
// readable (24 or 168 points).
const RANGES = {
  "1h": { seconds: 3600, resolution: "minute" },
  "6h": { seconds: 6 * 3600, resolution: "minute" },
  "24h": { seconds: 86400, resolution: "hour" },
  "7d": { seconds: 7 * 86400, resolution: "hour" },
};
const POLL_MS = 5000;

export function analyticsView(root, ctx, app) {
  const q = new URLSearchParams(location.hash.split("?")[1] || "");
  const rangeKey = RANGES[q.get("range")] ? q.get("range") : "24h";
  const range = RANGES[rangeKey];

  const picker = h(
    "nav",
    { class: "segmented", "aria-label": "Time range" },
    Object.keys(RANGES).map((k) =>
      h("a", { href: `${href.app(app, "analytics")}?range=${k}`, id: `range-${k}`, "aria-current": k === rangeKey ? "true" : null }, k),
    ),
  );
  const status = h("p", { class: "muted", id: "analytics-status", role: "status" }, "Loading…");
  const err = h("div");
  const emptyMsg = h("p", { class: "empty", id: "analytics-empty", hidden: true }, "No stats yet");
  const adoptionBox = h("div", { id: "chart-adoption", class: "chart" });
  const success = h("div", { id: "chart-success", class: "chart" });
  const failures = h("div", { id: "chart-failures", class: "chart" });
  const versions = h("div", { id: "analytics-versions" });
  const charts = h(
    "div",
    { class: "charts", hidden: true },
    h("section", { class: "card wide" }, h("h2", {}, "Active devices per version"), adoptionBox),
    h("section", { class: "card" }, h("h2", {}, "Install success rate"), success),
    h("section", { class: "card" }, h("h2", {}, "Failures"), failures),
    h("section", { class: "card wide" }, h("h2", {}, "Versions"), versions),
  );
  root.append(h("div", { class: "toolbar" }, picker, status), err, emptyMsg, charts);

  const chart = adoptionChart(adoptionBox);
  ctx.onCleanup(() => chart.destroy());

  ctx.poll(async () => {
    const to = Math.floor(Date.now() / 1000);
    let rep;
    try {
      rep = await api(appPath(app, "analytics"), {
        query: { from: to - range.seconds, to, resolution: range.resolution },
        signal: ctx.signal,
      });
    } catch (e) {
      if (e.name === "AbortError" || !ctx.alive) return;
      // Keep the last charts: a blip should not blank the screen.
      replace(err, errorBox(e));
      status.textContent = `Last try failed at ${new Date().toLocaleTimeString()}; retrying every ${POLL_MS / 1000} s.`;
      return;
    }
    if (!ctx.alive) return;
    replace(err);
    render(rep);
    const missing = rep.missing?.length ? ` Origin nodes not heard from: ${rep.missing.join(", ")}.` : "";
    status.textContent = `Last ${rangeKey} by ${rep.query?.resolution || range.resolution}; updated ${new Date().toLocaleTimeString()}, every ${POLL_MS / 1000} s while visible.${missing}`;
  }, POLL_MS);

  function render(rep) {
    const vs = rep.versions || [];
    const hasData = vs.length > 0 || (rep.adoption || []).length > 0;
    emptyMsg.hidden = hasData;
    charts.hidden = !hasData;
    if (!hasData) return;

    // After unhiding: uPlot measures its container.
    chart.update(rep);

    const rated = vs.filter((v) => v.success_rate >= 0);
    replace(
      success,
      rated.length
        ? bars(
            rated.map((v) => ({
              label: v.version,
              value: v.success_rate,
              text: `${pct(v.success_rate)} (${v.installs} of ${v.installs + installFailures(v)})`,
              cls: v.success_rate < 0.95 ? "bad" : "ok",
            })),
            { max: 1 },
          )
        : h("p", { class: "muted" }, "No install attempts in this range."),
    );

    const f = rep.failures || {};
    replace(
      failures,
      f.total
        ? [
            h("p", {}, `${f.total} failure events.`),
            dim("By cause", f.by_cause),
            dim("By version", f.by_version),
            dim("By plugin version", f.by_plugin),
            dim("By platform", f.by_platform),
            dim("By region", f.by_region),
          ]
        : h("p", { class: "muted" }, "No failures in this range."),
    );

    replace(
      versions,
      table(
        ["Version", "Devices", "Installs", "Downloads", "Failures", "Success", "50% adoption", "95% adoption", "Delivery p50 / p90"],
        vs.map((v) => [
          h("span", { class: "mono" }, v.version),
          v.devices,
          v.installs,
          v.downloads,
          v.failures,
          v.success_rate >= 0 ? pct(v.success_rate) : "—",
          duration(v.adoption_50_s),
          duration(v.adoption_95_s),
          v.delivery_ms?.count ? `${v.delivery_ms.p50} / ${v.delivery_ms.p90} ms` : "—",
        ]),
      ),
    );
  }
}

const dim = (title, obj) => h("div", { class: "dim" }, h("h3", {}, title), countBars(obj));

// Install failures are the failures counted against success_rate; the
// report gives the rate and the installs, so the attempts follow from them.
function installFailures(v) {
  if (v.success_rate <= 0) return v.failures;
  return Math.round(v.installs / v.success_rate - v.installs);
}
