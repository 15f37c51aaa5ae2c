// #/tokens: the API tokens (GET /api/v1/tokens, admin tokens only), making
// one (its secret is in the create answer alone, so it is shown right
// then, once) and revoking one. docs/api.md#tokens.
import { api, seg, token } from "../api.js";
import { ago, busy, confirmDialog, empty, field, fromLocalInput, h, loading, localInput, notice, replace, table, time, zoneName } from "../dom.js";

// origin/api Roles, least powerful first (the form's default is the least).
const ROLES = [
  ["read", "read: look only"],
  ["publish", "publish: change apps, bundles, channels, devices"],
  ["admin", "admin: everything, tokens too"],
  ["edge", "edge: for `aloft edge --token`"],
];
// Only publish and read tokens may be limited to apps (a scope on the
// others is refused).
const SCOPED = new Set(["read", "publish"]);
const EXPIRIES = [
  ["", "Never"],
  ["86400", "in 1 day"],
  ["604800", "in 7 days"],
  ["2592000", "in 30 days"],
  ["7776000", "in 90 days"],
  ["31536000", "in 1 year"],
  ["at", "at a date…"],
];

export async function tokensView(root, ctx) {
  const secretBox = h("div", { id: "token-created" });
  const list = h("div", { id: "tokens-list" }, loading());
  root.append(h("h1", {}, "Tokens"), secretBox, list, createForm());

  async function load() {
    const toks = await api("/tokens", { signal: ctx.signal });
    if (!ctx.alive) return;
    if (!toks?.length) return replace(list, empty("No tokens besides the bootstrap admin token. Make one below."));
    const now = Date.now();
    const mine = token.get().slice(0, 10);
    replace(
      list,
      table(
        ["Name", "Role", "Apps", "Prefix", "Created", "Expires", "Last used", ""],
        toks.map((t) => {
          const expired = t.expires_ms && t.expires_ms <= now;
          return h(
            "tr",
            { dataset: { token: t.name } },
            [
              [h("strong", {}, t.name), t.prefix === mine && [" ", h("span", { class: "badge", title: "Its prefix matches this tab's token" }, "this tab")]],
              h("span", { class: t.role === "admin" ? "badge warn" : "badge" }, t.role),
              t.apps?.length ? h("span", { class: "mono break" }, t.apps.join(", ")) : h("span", { class: "muted" }, "every app"),
              h("span", { class: "mono" }, `${t.prefix}…`),
              time(t.created_ms),
              t.expires_ms ? [time(t.expires_ms), expired ? [" ", h("span", { class: "badge bad" }, "expired")] : ""] : h("span", { class: "muted" }, "never"),
              t.last_used_ms ? h("span", { title: time(t.last_used_ms) }, ago(t.last_used_ms)) : h("span", { class: "muted" }, "—"),
              revokeButton(t, t.prefix === mine),
            ].map((c) => h("td", {}, c)),
          );
        }),
        { id: "tokens-table" },
      ),
    );
  }

  function revokeButton(t, mine) {
    const btn = h("button", { type: "button", class: "danger subtle", id: `token-revoke-${t.name}` }, "Revoke");
    btn.addEventListener("click", async () => {
      const detail = [
        "Clients using it are refused from their next request; the name may be used again.",
        mine ? " Its prefix matches the token this tab is logged in with: if it is that one, this tab is logged out." : "",
      ].join("");
      if (!(await confirmDialog(`Revoke token ${t.name}?`, detail, "Revoke"))) return;
      await busy(btn, async () => {
        try {
          await api(`/tokens/${seg(t.name)}`, { method: "DELETE" });
          notice(`Revoked ${t.name}.`);
        } catch (e) {
          notice(`${t.name}: ${e.message}`, "error");
        }
        await reload();
      });
    });
    return btn;
  }

  function createForm() {
    const name = h("input", { id: "token-name", required: true, placeholder: "ci-shop", autocomplete: "off", spellcheck: "false" });
    const role = h("select", { id: "token-role" }, ROLES.map(([v, label]) => h("option", { value: v }, label)));
    const apps = h("input", { id: "token-apps", placeholder: "com.example.shop, com.example.blog", autocomplete: "off", spellcheck: "false" });
    const expires = h("select", { id: "token-expires" }, EXPIRIES.map(([v, label]) => h("option", { value: v }, label)));
    const at = h("input", { id: "token-expires-at", type: "datetime-local", min: localInput(Date.now()) });
    const atField = field(`Expires at (${zoneName()})`, at);
    atField.hidden = true;
    const appsHint = h("small", { class: "muted" }, "Comma-separated app ids; empty: every app");
    const appsField = h("div", { class: "field" }, h("label", { for: apps.id }, "Apps"), apps, appsHint);
    const btn = h("button", { type: "submit", id: "token-create" }, "Create token");

    const syncRole = () => {
      const scoped = SCOPED.has(role.value);
      apps.disabled = !scoped;
      appsHint.textContent = scoped ? "Comma-separated app ids; empty: every app" : `A ${role.value} token is global: it cannot be limited to apps`;
    };
    role.addEventListener("change", syncRole);
    expires.addEventListener("change", () => {
      atField.hidden = expires.value !== "at";
      at.required = expires.value === "at";
    });
    syncRole();

    const form = h(
      "form",
      { class: "card form", id: "token-form" },
      h("h2", {}, "New token"),
      h("div", { class: "row" }, field("Name", name, "Letters, digits, . _ -"), field("Role", role, "Give each client the least it needs")),
      h("div", { class: "row" }, appsField, field("Expires", expires), atField),
      h("div", { class: "actions" }, btn),
    );
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      const n = name.value.trim();
      if (!n) return name.focus();
      const body = { name: n, role: role.value };
      const scope = SCOPED.has(role.value) ? apps.value.split(/[\s,]+/).filter(Boolean) : [];
      if (scope.length) body.apps = scope;
      if (expires.value === "at") {
        const ms = fromLocalInput(at.value);
        if (!(ms > Date.now())) {
          notice("Pick an expiry time in the future.", "error");
          return at.focus();
        }
        body.expires_ms = ms;
      } else if (expires.value) {
        body.expires_in_seconds = Number(expires.value);
      }
      busy(btn, async () => {
        try {
          const t = await api("/tokens", { method: "POST", body });
          form.reset();
          syncRole();
          atField.hidden = true;
          at.required = false;
          showSecret(t);
          notice(`Created token ${t.name}.`);
        } catch (err) {
          notice(`Could not create the token: ${err.message}`, "error");
        }
        await reload();
      });
    });
    return form;
  }

  function showSecret(t) {
    const secret = h("code", { class: "mono break", id: "token-secret" }, t.token);
    const copy = h("button", { type: "button", class: "subtle", id: "token-secret-copy" }, "Copy");
    copy.addEventListener("click", async () => {
      try {
        await navigator.clipboard.writeText(t.token);
        notice("Secret copied.");
      } catch {
        // No clipboard (an insecure origin, a refused permission): select
        // it, so Ctrl+C does it.
        getSelection().selectAllChildren(secret);
        notice("Could not copy: the secret is selected, copy it with Ctrl+C (⌘C).", "error");
      }
    });
    const stored = h("button", { type: "button", class: "subtle", id: "token-secret-done", onclick: () => replace(secretBox) }, "I have stored it");
    replace(
      secretBox,
      h(
        "div",
        { class: "card secret", role: "alert" },
        h("h2", {}, `Secret of ${t.name}`),
        h(
          "p",
          {},
          `A ${t.role} token`,
          t.apps?.length ? ` for ${t.apps.join(", ")}` : "",
          t.expires_ms ? `, expiring ${time(t.expires_ms)}` : ", never expiring",
          ". Store it now: it is not shown again (the origin keeps only its hash).",
        ),
        secret,
        h("div", { class: "actions" }, copy, stored),
      ),
    );
    secretBox.scrollIntoView({ block: "start" });
    copy.focus();
  }

  async function reload() {
    try {
      await load();
    } catch (e) {
      if (!ctx.alive || e.name === "AbortError") return;
      // 403: a read or publish token; say so beside the origin's words.
      replace(
        list,
        h(
          "p",
          { class: "error", role: "alert", id: "tokens-error" },
          e.status === 403 ? `Only an admin token can see and make tokens. The origin said: ${e.message}` : `Could not list the tokens: ${e.message}`,
          e.status ? ` (HTTP ${e.status}${e.code ? ", " + e.code : ""})` : "",
        ),
      );
    }
  }
  await reload();
}
