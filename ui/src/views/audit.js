// #/apps/{app}/audit: the app's audit log, newest first. The API pages
// oldest first (GET /api/v1/audit?app=&after=&limit=), so the view reads
// it in windows of seqs counted back from the head: the latest window
// first, older ones on request.
import { api } from "../api.js";
import { empty, errorBox, h, loading, replace, table, time } from "../dom.js";

const WINDOW = 1000; // seqs per window: one page at the API's maximum limit

export async function auditView(root, ctx, app) {
  const status = h("p", { class: "muted" });
  const list = h("div", {}, loading());
  const older = h("button", { type: "button", id: "audit-older", hidden: true }, "Show older");
  const refresh = h("button", { type: "button", class: "subtle", id: "audit-refresh" }, "Refresh");
  root.append(h("div", { class: "actions" }, refresh), status, list, h("div", { class: "actions" }, older));

  let entries = []; // newest first
  let lo = 0; // entries with seq > lo are loaded
  let first = 0;

  // range(after, until): the app's entries with after < seq ≤ until.
  async function range(after, until) {
    const out = [];
    for (;;) {
      const p = await api("/audit", { query: { app, after, limit: WINDOW }, signal: ctx.signal });
      for (const e of p.entries || []) if (e.seq <= until) out.push(e);
      const last = p.entries?.[p.entries.length - 1]?.seq ?? until;
      if (!p.more || last >= until) return { page: p, entries: out };
      after = last;
    }
  }

  async function loadLatest() {
    replace(list, loading());
    const probe = await api("/audit", { query: { app, limit: 1 }, signal: ctx.signal });
    const head = probe.head_seq || 0;
    first = probe.first_seq || 0;
    lo = Math.max(0, first - 1, head - WINDOW);
    const r = await range(lo, head);
    entries = r.entries.reverse();
    render(head);
  }

  async function loadOlder() {
    const until = lo;
    lo = Math.max(0, first - 1, lo - WINDOW);
    const r = await range(lo, until);
    entries = entries.concat(r.entries.reverse());
    render();
  }

  function render(head) {
    if (!ctx.alive) return;
    if (head !== undefined) status.textContent = head ? `Log head: entry ${head}. Showing ${app}'s entries, newest first.` : "";
    older.hidden = lo <= Math.max(0, first - 1);
    if (!entries.length) {
      replace(list, empty(older.hidden ? "No audit entries for this app." : "No entries for this app among the latest ones."));
      return;
    }
    replace(
      list,
      table(
        ["Time", "Actor", "Action", "Object", "Change"],
        entries.map((e) => [time(e.time_ms), h("span", { class: "mono" }, e.actor), e.action, e.object, change(e.before, e.after)]),
        { id: "audit-table", class: "audit" },
      ),
    );
  }

  const guard = (p) =>
    p.catch((e) => {
      if (ctx.alive && e.name !== "AbortError") replace(list, errorBox(e));
    });
  older.addEventListener("click", () => guard(loadOlder()));
  refresh.addEventListener("click", () => guard(loadLatest()));
  await guard(loadLatest());
}

// change(before, after): the altered fields as "field: old → new" lines.
// before/after are JSON text of just those fields (absent on create or
// delete).
function change(before, after) {
  const b = parse(before);
  const a = parse(after);
  if (b === undefined && a === undefined) return "";
  if (!isObj(b) || !isObj(a)) {
    return h("span", { class: "mono change" }, `${show(b)} → ${show(a)}`);
  }
  const bo = b || {};
  const ao = a || {};
  const keys = [...new Set([...Object.keys(bo), ...Object.keys(ao)])].filter((k) => JSON.stringify(bo[k]) !== JSON.stringify(ao[k]));
  return h(
    "ul",
    { class: "change mono" },
    keys.map((k) =>
      h("li", {}, k in bo && k in ao ? `${k}: ${show(bo[k])} → ${show(ao[k])}` : k in ao ? `${k}: ${show(ao[k])}` : `${k}: ${show(bo[k])} → (removed)`),
    ),
  );
}

function parse(s) {
  if (s === undefined || s === "") return undefined;
  try {
    return JSON.parse(s);
  } catch {
    return s;
  }
}
const isObj = (v) => v === undefined || (v !== null && typeof v === "object" && !Array.isArray(v));
const show = (v) => {
  if (v === undefined) return "—";
  const s = typeof v === "string" ? v : JSON.stringify(v);
  return s.length > 160 ? s.slice(0, 157) + "…" : s;
};
