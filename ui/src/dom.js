// Small DOM helpers. Everything the server sends goes in as text (never
// innerHTML), so a hostile app name or audit value cannot become markup.

// h("button", {id, class, onclick, disabled}, ...children): an element.
// Children are nodes, strings, numbers or (nested) arrays; null and false
// are skipped. Props are set after the children so a <select>'s value can
// name one of its options.
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  append(el, children);
  for (const [k, v] of Object.entries(props || {})) {
    if (v == null || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else if (k === "dataset") Object.assign(el.dataset, v);
    else if (k === "value" || k === "checked") el[k] = v;
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  return el;
}

export function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c == null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

// replace(el, ...children): el's content becomes the children.
export function replace(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

export const loading = (what = "Loading…") => h("p", { class: "muted loading", role: "status" }, what);
export const empty = (text) => h("p", { class: "empty" }, text);
export const errorBox = (err) => h("p", { class: "error", role: "alert" }, messageOf(err));

export function messageOf(err) {
  if (!err) return "";
  if (err.status) return `${err.message} (HTTP ${err.status}${err.code ? ", " + err.code : ""})`;
  return err.message || String(err);
}

// The global notice area (#notice): the outcome of the last action, in
// words. Errors stay until dismissed or replaced; successes fade.
let noticeTimer = 0;
export function notice(text, kind = "ok") {
  const el = document.getElementById("notice");
  if (!el) return;
  clearTimeout(noticeTimer);
  if (!text) {
    el.hidden = true;
    el.replaceChildren();
    return;
  }
  el.hidden = false;
  el.className = `notice ${kind}`;
  replace(el, h("span", {}, text), h("button", { type: "button", class: "link", "aria-label": "Dismiss", onclick: () => notice("") }, "×"));
  if (kind === "ok") noticeTimer = setTimeout(() => notice(""), 6000);
}
export const noticeError = (err) => notice(messageOf(err), "error");

// confirmDialog(question, detail, yesLabel) → Promise<boolean>. An
// in-page modal <dialog> rather than window.confirm, which browsers may
// suppress and tests cannot see. The buttons are #confirm-yes and
// #confirm-no; the dialog is removed once answered, so two questions
// never share ids. Keyboard: the safe answer has the focus, Tab and
// Shift+Tab cycle inside the dialog (showModal alone lets Tab leave for
// the browser's own toolbar), Escape cancels, and the focus goes back to
// the control that asked.
export function confirmDialog(question, detail = "", yesLabel = "Confirm") {
  document.getElementById("confirm")?.remove();
  const opener = document.activeElement;
  return new Promise((resolve) => {
    const no = h("button", { type: "button", id: "confirm-no", onclick: () => done(false) }, "Cancel");
    const yes = h("button", { type: "button", id: "confirm-yes", class: "danger", onclick: () => done(true) }, yesLabel);
    const dlg = h(
      "dialog",
      { id: "confirm", class: "confirm", "aria-labelledby": "confirm-title", "aria-describedby": detail ? "confirm-detail" : null },
      h("h2", { id: "confirm-title" }, question),
      detail && h("p", { id: "confirm-detail" }, detail),
      h("div", { class: "actions" }, no, yes),
    );
    let answered = false;
    const done = (ok) => {
      if (answered) return;
      answered = true;
      if (dlg.open) dlg.close();
      dlg.remove();
      // Back where the operator was, unless the answer's own re-render
      // has already moved the focus somewhere on purpose.
      if (opener instanceof HTMLElement && opener.isConnected && !opener.disabled) opener.focus();
      resolve(ok);
    };
    // Escape: the browser's cancel event; and should the browser close
    // the dialog without one (a second Escape in a row may), the close.
    dlg.addEventListener("cancel", (e) => {
      e.preventDefault();
      done(false);
    });
    dlg.addEventListener("close", () => done(false));
    dlg.addEventListener("keydown", (e) => {
      if (e.key === "Escape") {
        e.preventDefault();
        done(false);
      } else if (e.key === "Tab") {
        const stops = [no, yes];
        const i = stops.indexOf(document.activeElement);
        e.preventDefault();
        stops[(i + (e.shiftKey ? stops.length - 1 : 1)) % stops.length].focus();
      }
    });
    document.body.append(dlg);
    dlg.showModal();
    no.focus(); // the safe answer has the focus
  });
}

// Formatting.
export const pctOfBps = (bps) => `${Number((bps / 100).toFixed(2))}%`;
export const pct = (x, digits = 1) => `${(x * 100).toFixed(digits).replace(/\.0+$/, "")}%`;

export function time(ms) {
  if (!ms) return "—";
  const d = new Date(ms);
  return d.toLocaleString(undefined, { year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", second: "2-digit" });
}

// ago(ms, now): "12 s ago", "3 min ago"…; now defaults to the local clock.
export function ago(ms, now = Date.now()) {
  if (!ms) return "never";
  const s = Math.max(0, Math.round((now - ms) / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86400) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86400)} d ago`;
}

export function duration(s) {
  if (s == null || s < 0) return "—";
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.round(s / 60)} min`;
  if (s < 86400) return `${(s / 3600).toFixed(1).replace(/\.0$/, "")} h`;
  return `${(s / 86400).toFixed(1).replace(/\.0$/, "")} d`;
}

export function bytes(n) {
  if (!n) return "—";
  const u = ["B", "KiB", "MiB", "GiB"];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) {
    n /= 1024;
    i++;
  }
  return `${i ? n.toFixed(1) : n} ${u[i]}`;
}

// datetime-local values: the operator's local time, to the minute.
// localInput(ms) → "2026-12-04T09:00"; fromLocalInput("…") → Unix ms
// (NaN when empty or not a date: a form without offset is local time).
export function localInput(ms) {
  const d = new Date(ms);
  const p = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
}
export const fromLocalInput = (v) => (v ? new Date(v).getTime() : NaN);

// The browser's offset from UTC, for hints under time inputs ("UTC+1").
export function zoneName() {
  const m = -new Date().getTimezoneOffset();
  if (!m) return "UTC";
  const a = Math.abs(m);
  return `UTC${m < 0 ? "−" : "+"}${Math.floor(a / 60)}${a % 60 ? ":" + String(a % 60).padStart(2, "0") : ""}`;
}

// A <table> from a header list and rows of cells.
export function table(headers, rows, props = {}) {
  return h(
    "div",
    { class: "table-wrap" },
    h(
      "table",
      props,
      h("thead", {}, h("tr", {}, headers.map((t) => h("th", { scope: "col" }, t)))),
      h("tbody", {}, rows.map((r) => (r instanceof Node ? r : h("tr", {}, r.map((c) => h("td", {}, c)))))),
    ),
  );
}

// field(label, control, hint): a labelled form row.
let fieldSeq = 0;
export function field(label, control, hint) {
  if (!control.id) control.id = `f${++fieldSeq}`;
  return h("div", { class: "field" }, h("label", { for: control.id }, label), control, hint && h("small", { class: "muted" }, hint));
}

// busy(button, promise): disables the button while the action runs, so a
// double click does not send the write twice.
export async function busy(btn, fn) {
  if (btn) btn.disabled = true;
  try {
    return await fn();
  } finally {
    if (btn && btn.isConnected) btn.disabled = false;
  }
}

// guarded wraps a view's load so a failure shows in place of el, unless
// the view was left (ctx.alive false) or the request was aborted.
export function guarded(ctx, el, load) {
  return async () => {
    try {
      await load();
    } catch (e) {
      if (ctx.alive && e.name !== "AbortError") replace(el, errorBox(e));
    }
  };
}
