// #/apps/{app}/settings: the app's policy (GET/PUT …/policy: encryption
// required, metadata sent to devices; changing it needs an admin token)
// and its bundle retention (GET/PUT …/retention). docs/api.md#apps and
// #garbage-collection. Each card loads and saves on its own, so a token
// refused one still sees the other.
import { api, appPath } from "../api.js";
import { busy, confirmDialog, duration, errorBox, field, h, loading, notice, replace } from "../dom.js";

const UNITS = [
  ["86400", "days"],
  ["3600", "hours"],
  ["1", "seconds"],
];

export async function settingsView(root, ctx, app) {
  const policy = h("section", { class: "card", id: "policy", "aria-labelledby": "policy-title" }, h("h2", { id: "policy-title" }, "Policy"), loading());
  const retention = h(
    "section",
    { class: "card", id: "retention", "aria-labelledby": "retention-title" },
    h("h2", { id: "retention-title" }, "Bundle retention"),
    loading(),
  );
  root.append(policy, retention);

  // ---- Policy
  function policyForm(p) {
    const enc = h("input", { type: "checkbox", id: "policy-require-encryption", checked: !!p.require_encryption });
    const meta = h("input", { type: "checkbox", id: "policy-expose-metadata", checked: !!p.expose_metadata });
    const btn = h("button", { type: "submit", id: "policy-save" }, "Save policy");
    const plain = p.unencrypted_bundles || [];
    const form = h(
      "form",
      { class: "form", id: "policy-form" },
      h(
        "div",
        { class: "field check" },
        h("label", { for: enc.id }, enc, " Require encryption"),
        h("small", { class: "muted" }, "Refuse bundles published without a Capgo session key. Bundles already published stay served."),
      ),
      h(
        "div",
        { class: "field check" },
        h("label", { for: meta.id }, meta, " Expose metadata to devices"),
        h("small", { class: "muted" }, "Send bundles' link and comment to devices (they often carry commit messages). Operators always see them."),
      ),
      p.require_encryption &&
        h(
          "div",
          { id: "policy-unencrypted" },
          plain.length
            ? [
                h("p", { class: "warn" }, `Published before encryption was required, still served unencrypted (${plain.length}):`),
                h("p", { class: "mono break" }, plain.join(", ")),
              ]
            : h("p", { class: "muted" }, "Every bundle of the app is encrypted."),
        ),
      h("div", { class: "actions" }, btn),
    );
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const body = { require_encryption: enc.checked, expose_metadata: meta.checked };
      if (body.expose_metadata && !p.expose_metadata) {
        const ok = await confirmDialog(
          `Send bundles' link and comment to the devices of ${app}?`,
          "Plugins that read them show them to the app; they often carry commit messages.",
          "Expose metadata",
        );
        if (!ok) return;
      }
      await busy(btn, async () => {
        try {
          const out = await api(appPath(app, "policy"), { method: "PUT", body });
          notice(`${app}: policy saved (encryption ${out.require_encryption ? "required" : "optional"}, metadata ${out.expose_metadata ? "exposed" : "hidden"}).`);
          showPolicy(out);
          document.getElementById("policy-save")?.focus();
        } catch (err) {
          notice(err.status === 403 ? `Only an admin token can change the policy: ${err.message}` : `Could not save the policy: ${err.message}`, "error");
        }
      });
    });
    return form;
  }
  const showPolicy = (p) => replace(policy, h("h2", { id: "policy-title" }, "Policy"), policyForm(p));

  // ---- Retention
  function retentionForm(r) {
    const keepLast = h("input", { type: "number", id: "retention-keep-last", min: "0", max: "100000", step: "1", value: String(r.keep_last || 0) });
    const [n, unit] = split(r.keep_seconds || 0);
    const keepFor = h("input", { type: "number", id: "retention-keep-for", min: "0", step: "1", value: String(n) });
    const unitSel = h("select", { id: "retention-keep-unit", "aria-label": "Unit" }, UNITS.map(([v, label]) => h("option", { value: v }, label)));
    unitSel.value = unit;
    const btn = h("button", { type: "submit", id: "retention-save" }, "Save retention");
    const off = !r.keep_last && !r.keep_seconds;
    const form = h(
      "form",
      { class: "form", id: "retention-form" },
      h(
        "p",
        { id: "retention-now" },
        off
          ? "Every bundle is kept (no retention)."
          : `Kept: the newest ${r.keep_last || 0} bundles and those younger than ${duration(r.keep_seconds || 0)}; and always any bundle a channel points at.`,
      ),
      h("p", { class: "muted" }, "Before each blob collection (hourly) the origin deletes bundles outside this policy that no channel serves, has in its rollout or in its rollback history. Both 0: keep every bundle."),
      h(
        "div",
        { class: "row" },
        field("Keep the newest", keepLast, "bundles (0: no count)"),
        h(
          "div",
          { class: "field" },
          h("label", { for: keepFor.id }, "Keep those younger than"),
          h("div", { class: "inline" }, keepFor, unitSel),
          h("small", { class: "muted" }, "0: no age"),
        ),
      ),
      h("div", { class: "actions" }, btn),
    );
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const body = { keep_last: Math.trunc(Number(keepLast.value) || 0), keep_seconds: Math.trunc((Number(keepFor.value) || 0) * Number(unitSel.value)) };
      if (body.keep_last < 0 || body.keep_seconds < 0) return notice("Retention counts cannot be negative.", "error");
      // Any retention that deletes something and is not the one in force
      // asks first: what it deletes cannot be served again.
      const changed = (body.keep_last || body.keep_seconds) && (body.keep_last !== (r.keep_last || 0) || body.keep_seconds !== (r.keep_seconds || 0));
      if (changed) {
        const ok = await confirmDialog(
          `Delete ${app}'s older bundles from the next collection?`,
          `Bundles that are neither among the newest ${body.keep_last} nor younger than ${duration(body.keep_seconds)}, and that no channel points at, are deleted (audited) before the next blob collection. They cannot be served again.`,
          "Save retention",
        );
        if (!ok) return;
      }
      await busy(btn, async () => {
        try {
          const out = await api(appPath(app, "retention"), { method: "PUT", body });
          notice(`${app}: retention saved.`);
          showRetention(out);
          document.getElementById("retention-save")?.focus();
        } catch (err) {
          notice(`Could not save the retention: ${err.message}`, "error");
        }
      });
    });
    return form;
  }
  const showRetention = (r) => replace(retention, h("h2", { id: "retention-title" }, "Bundle retention"), retentionForm(r));

  await Promise.all([
    api(appPath(app, "policy"), { signal: ctx.signal }).then(
      (p) => ctx.alive && showPolicy(p),
      (e) => ctx.alive && e.name !== "AbortError" && replace(policy, h("h2", { id: "policy-title" }, "Policy"), errorBox(e)),
    ),
    api(appPath(app, "retention"), { signal: ctx.signal }).then(
      (r) => ctx.alive && showRetention(r),
      (e) => ctx.alive && e.name !== "AbortError" && replace(retention, h("h2", { id: "retention-title" }, "Bundle retention"), errorBox(e)),
    ),
  ]);
}

// split(seconds) → [count, unit seconds as a string]: the largest unit
// that divides it (2592000 → 30 days, 7200 → 2 hours, 5400 → 5400
// seconds); 0 shows as 0 days.
function split(s) {
  for (const [u] of UNITS) if (s % Number(u) === 0 && s >= Number(u)) return [s / Number(u), u];
  return [s, s ? "1" : "86400"];
}
