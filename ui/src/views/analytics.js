// #/apps/{app}/analytics[?range=6h&version=…&channel=…&platform=…&region=…]:
// release analytics from GET /api/v1/apps/{app}/analytics (from/to in Unix
// seconds, resolution, and the same four filters), polled every 5 s while
// the tab is visible. The range and the filters are in the URL so a view
// can be shared as it is.
import { api, appPath } from "../api.js";
import { adoptionChart, bars, countBars } from "../charts.js";
import { duration, errorBox, h, pct, replace, table } from "../dom.js";
import { go, href } from "../router.js";

// Minute buckets are kept 48 h; hour buckets make a 24 h or 7 d chart
// readable (24 or 168 points).
const RANGES = {
  "1h": { seconds: 3600, resolution: "minute" },
  "6h": { seconds: 6 * 3600, resolution: "minute" },
  "24h": { seconds: 86400, resolution: "hour" },
  "7d": { seconds: 7 * 86400, resolution: "hour" },
};
const POLL_MS = 5000;
// The choices of the filters come from the unfiltered report and the
// channel list; they change slowly, so while a filter is set (and the
// report shown is the filtered one) they are fetched every 12th poll.
const OPTIONS_EVERY = 12;

// The filters, in URL order: query parameter (as origin/api/stats.go
// StatsQuery.Values names them) and label. Select ids: filter-{key}.
const FILTERS = [
  ["version", "Version"],
  ["channel", "Channel"],
  ["platform", "Platform"],
  ["region", "Region"],
];

// The filter the operator just changed: the view is drawn anew for the
// new URL, and the focus goes back to that select.
let refocus = "";

export function analyticsView(root, ctx, app) {
  const q = new URLSearchParams(location.hash.split("?")[1] || "");
  const rangeKey = RANGES[q.get("range")] ? q.get("range") : "24h";
  const range = RANGES[rangeKey];
  const filters = Object.fromEntries(FILTERS.map(([k]) => [k, q.get(k) || ""]));
  const filtered = FILTERS.some(([k]) => filters[k]);
  // Active devices and delivery times are kept per version only
  // (analytics/query.go Partial): the other filters do not narrow them.
  const partial = filters.channel || filters.platform || filters.region;

  // link(changes): this view's URL with the range and filters changed.
  const link = (changes = {}) => {
    const p = new URLSearchParams();
    const want = { range: rangeKey, ...filters, ...changes };
    for (const k of ["range", ...FILTERS.map(([k]) => k)]) if (want[k]) p.set(k, want[k]);
    return `${href.app(app, "analytics")}?${p}`;
  };

  const picker = h(
    "nav",
    { class: "segmented", "aria-label": "Time range" },
    Object.keys(RANGES).map((k) => h("a", { href: link({ range: k }), id: `range-${k}`, "aria-current": k === rangeKey ? "true" : null }, k)),
  );
  const selects = {};
  const shown = {}; // per filter, the option values last put in
  const filterBox = h(
    "div",
    { class: "filters", role: "group", "aria-label": "Filters" },
    FILTERS.map(([k, label]) => {
      const sel = h("select", { id: `filter-${k}` });
      sel.addEventListener("change", () => {
        refocus = sel.id;
        go(link({ [k]: sel.value }));
      });
      selects[k] = sel;
      setOptions(k, []);
      return h("div", { class: "filter" }, h("label", { for: sel.id }, label), sel);
    }),
    filtered && h("a", { href: link(Object.fromEntries(FILTERS.map(([k]) => [k, ""]))), class: "filter-clear" }, "Clear filters"),
  );
  const status = h("p", { class: "muted", id: "analytics-status", role: "status" }, "Loading…");
  const note =
    partial &&
    h(
      "p",
      { class: "muted filter-note" },
      "Channel, platform and region narrow installs, downloads and failures; active devices, adoption times and delivery times are kept per version only, so only the version filter narrows those.",
    );
  const err = h("div");
  const emptyMsg = h("p", { class: "empty", id: "analytics-empty", hidden: true }, filtered ? "No stats yet for these filters in this range." : "No stats yet");
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
  root.append(h("div", { class: "toolbar" }, picker, filterBox, status), note, err, emptyMsg, charts);
  if (refocus) selects[refocus.replace(/^filter-/, "")]?.focus();
  refocus = "";

  const chart = adoptionChart(adoptionBox);
  ctx.onCleanup(() => chart.destroy());

  let polls = 0;
  let unfiltered = null; // the last unfiltered report, while filtered
  let channels = null; // channel names, once known
  ctx.poll(async () => {
    const to = Math.floor(Date.now() / 1000);
    const query = { from: to - range.seconds, to, resolution: range.resolution };
    const fresh = polls++ % OPTIONS_EVERY === 0;
    // The filters' choices are a side matter: their failure leaves the
    // last choices in place and the report shown.
    const side = (p) =>
      p.catch((e) => {
        if (e.name === "AbortError") throw e;
        return null;
      });
    let rep, all, chs;
    try {
      [rep, all, chs] = await Promise.all([
        api(appPath(app, "analytics"), { query: { ...query, ...filters }, signal: ctx.signal }),
        filtered && (fresh || !unfiltered) ? side(api(appPath(app, "analytics"), { query, signal: ctx.signal })) : null,
        fresh || !channels ? side(api(appPath(app, "channels"), { signal: ctx.signal })) : null,
      ]);
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
    if (all) unfiltered = all;
    if (Array.isArray(chs)) channels = chs.map((c) => c.name);
    options(filtered ? unfiltered : rep);
    const missing = rep.missing?.length ? ` Origin nodes not heard from: ${rep.missing.join(", ")}.` : "";
    const only = FILTERS.filter(([k]) => filters[k]).map(([k, label]) => `${label.toLowerCase()} ${filters[k]}`);
    status.textContent = `Last ${rangeKey} by ${rep.query?.resolution || range.resolution}${only.length ? `, ${only.join(", ")} only` : ""}; updated ${new Date().toLocaleTimeString()}, every ${POLL_MS / 1000} s while visible.${missing}`;
  }, POLL_MS);

  // options(rep): each filter offers what the unfiltered report shows
  // (versions from its rows, platforms and regions from its failure
  // breakdowns) and the app's channels.
  function options(rep) {
    if (rep) {
      const f = rep.failures || {};
      const vs = (rep.versions || []).map((v) => v.version); // newest first
      setOptions("version", [...vs, ...keys(f.by_version).filter((v) => !vs.includes(v))]);
      setOptions("platform", keys(f.by_platform));
      setOptions("region", keys(f.by_region));
    }
    if (channels) setOptions("channel", channels);
  }

  // setOptions(k, values): "all", the values, and the one in the URL
  // even if the report does not show it (a link from another range, a
  // channel since deleted). Left alone while unchanged, so an open list
  // does not close under the operator every 5 s.
  function setOptions(k, values) {
    const vals = values.filter(Boolean);
    if (filters[k] && !vals.includes(filters[k])) vals.push(filters[k]);
    const key = vals.join("\n");
    if (shown[k] === key) return;
    shown[k] = key;
    const sel = selects[k];
    replace(sel, h("option", { value: "" }, "all"), vals.map((v) => h("option", { value: v }, v)));
    sel.value = filters[k];
  }

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

const keys = (obj) => Object.keys(obj || {}).filter(Boolean).sort();

const dim = (title, obj) => h("div", { class: "dim" }, h("h3", {}, title), countBars(obj));

// Install failures are the failures counted against success_rate; the
// report gives the rate and the installs, so the attempts follow from them.
function installFailures(v) {
  if (v.success_rate <= 0) return v.failures;
  return Math.round(v.installs / v.success_rate - v.installs);
}
