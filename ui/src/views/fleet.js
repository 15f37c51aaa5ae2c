// #/fleet: every edge the origin cluster has heard from (GET
// /api/v1/edges), refreshed every 5 s while visible. Ages are computed
// from the origin's own clock (now_ms), not the browser's.
import { api } from "../api.js";
import { ago, empty, errorBox, h, replace, table, time } from "../dom.js";

export function fleetView(root, ctx) {
  const status = h("p", { id: "fleet-status", class: "muted", role: "status" }, "Loading…");
  const warn = h("div");
  const list = h("div");
  root.append(h("h1", {}, "Fleet"), status, warn, list);

  ctx.poll(async () => {
    let l;
    try {
      l = await api("/edges", { signal: ctx.signal });
    } catch (e) {
      if (e.name !== "AbortError" && ctx.alive) replace(warn, errorBox(e));
      return;
    }
    if (!ctx.alive) return;
    const edges = (l.edges || []).slice().sort((a, b) => (a.region || "").localeCompare(b.region || "") || a.name.localeCompare(b.name));
    const live = edges.filter((e) => e.live).length;
    status.textContent = `Origin catalog index ${l.index}. ${live} of ${edges.length} edges live. Updated ${new Date().toLocaleTimeString()}.`;
    replace(
      warn,
      l.partial?.length &&
        h(
          "div",
          { class: "card warn", role: "alert" },
          h("strong", {}, "Partial list: "),
          "these origin nodes could not be asked, so edges syncing from them are unknown, not absent.",
          h("ul", {}, l.partial.map((m) => h("li", {}, h("span", { class: "mono" }, m.node_id), m.api_url ? ` (${m.api_url})` : "", `: ${m.error}`))),
        ),
    );
    if (!edges.length) return replace(list, empty("No edges have synced yet."));
    replace(
      list,
      table(
        ["Edge", "Region", "Catalog index", "Lag", "Last seen", "Live", "Via", "Public URL"],
        edges.map((e) => [
          h("strong", {}, e.name),
          e.region || "—",
          e.index,
          e.lag ? h("span", { class: "badge warn" }, String(e.lag)) : "0",
          h("span", { title: time(e.last_seen_ms) }, ago(e.last_seen_ms, l.now_ms)),
          e.live ? h("span", { class: "badge ok" }, "live") : h("span", { class: "badge bad" }, "not live"),
          e.via || "—",
          e.public_url ? h("span", { class: "mono break" }, e.public_url) : "—",
        ]),
        { id: "edges-table" },
      ),
    );
  }, 5000);
}
