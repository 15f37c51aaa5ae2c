// #/apps/{app}/previews: preview links that open one bundle (or a
// channel's current bundle) on a test device. The token, deep link and QR
// code exist only in the create answer, so they are shown right then.
import { api, appPath } from "../api.js";
import { busy, confirmDialog, empty, errorBox, field, h, loading, notice, replace, table, time } from "../dom.js";

const TTLS = [
  ["1 hour", 3600],
  ["1 day", 86400],
  ["7 days", 7 * 86400],
  ["30 days", 30 * 86400],
  ["90 days", 90 * 86400],
];

export async function previewsView(root, ctx, app) {
  const created = h("div", { id: "preview-created" });
  const form = h("div", {}, loading());
  const list = h("div", {}, loading());
  root.append(created, form, h("h2", {}, "Live previews"), list);

  async function load() {
    const [pvs, bs, chs] = await Promise.all([
      api(appPath(app, "previews"), { signal: ctx.signal }),
      api(appPath(app, "bundles"), { signal: ctx.signal }),
      api(appPath(app, "channels"), { signal: ctx.signal }),
    ]);
    if (!ctx.alive) return;
    if (!form.querySelector("form")) replace(form, createForm((bs || []).map((b) => b.version), (chs || []).map((c) => c.name)));
    const now = Date.now();
    if (!pvs?.length) return replace(list, empty("No preview links."));
    replace(
      list,
      table(
        ["Opens", "Created", "Expires", ""],
        pvs.map((p) => [
          p.bundle ? ["bundle ", h("span", { class: "mono" }, p.bundle)] : ["channel ", h("span", { class: "mono" }, p.channel)],
          time(p.created_ms),
          [time(p.expires_ms), p.expires_ms < now ? h("span", { class: "badge bad" }, " expired") : ""],
          revokeButton(p),
        ]),
        { id: "previews-table" },
      ),
    );
  }

  function revokeButton(p) {
    const btn = h("button", { type: "button", class: "danger subtle", id: `preview-revoke-${p.id}` }, "Revoke");
    btn.addEventListener("click", async () => {
      if (!(await confirmDialog("Revoke this preview link?", "Devices holding it can no longer fetch the bundle.", "Revoke"))) return;
      await busy(btn, async () => {
        try {
          await api(appPath(app, "previews", p.id), { method: "DELETE" });
          notice("Preview revoked.");
        } catch (e) {
          notice(e.message, "error");
        }
        await reload();
      });
    });
    return btn;
  }

  function createForm(bundles, channels) {
    const kind = h("select", { id: "preview-kind" }, h("option", { value: "bundle" }, "a bundle"), h("option", { value: "channel" }, "a channel (follows it)"));
    const target = h("select", { id: "preview-target", required: true });
    const fill = () =>
      replace(
        target,
        (kind.value === "bundle" ? bundles : channels).map((v) => h("option", { value: v }, v)),
      );
    kind.addEventListener("change", fill);
    fill();
    const ttl = h("select", { id: "preview-ttl" }, TTLS.map(([l, s]) => h("option", { value: String(s) }, l)));
    ttl.value = String(7 * 86400);
    const edge = h("input", { type: "url", id: "preview-edge", placeholder: "default: the origin's preview edge", autocomplete: "off" });
    const btn = h("button", { type: "submit", id: "preview-submit" }, "Create link");
    const f = h(
      "form",
      { class: "card form", id: "preview-create" },
      h("h2", {}, "New preview link"),
      h("div", { class: "row" }, field("Opens", kind), field("Which", target), field("Valid for", ttl)),
      h("div", { class: "row" }, field("Edge URL", edge, "Optional")),
      h("div", { class: "actions" }, btn),
    );
    f.addEventListener("submit", (e) => {
      e.preventDefault();
      if (!target.value) return notice(`This app has no ${kind.value} yet.`, "error");
      const body = { [kind.value]: target.value, ttl_seconds: Number(ttl.value) };
      if (edge.value.trim()) body.edge_url = edge.value.trim();
      busy(btn, async () => {
        try {
          const p = await api(appPath(app, "previews"), { method: "POST", body });
          showCreated(p);
          notice("Preview link created.");
        } catch (err) {
          notice(`Could not create the preview: ${err.message}`, "error");
        }
        await reload();
      });
    });
    return f;
  }

  function showCreated(p) {
    replace(
      created,
      h(
        "div",
        { class: "card preview" },
        h("h2", {}, `Preview of ${p.bundle ? "bundle " + p.bundle : "channel " + p.channel}`),
        h("p", {}, `Scan it with a device running the container app; valid until ${time(p.expires_ms)}. It is shown only now.`),
        h(
          "div",
          { class: "preview-body" },
          p.qr_png && h("img", { id: "preview-qr", class: "qr", alt: "QR code of the deep link", src: `data:image/png;base64,${p.qr_png}`, width: "220", height: "220" }),
          h(
            "dl",
            { class: "facts" },
            h("dt", {}, "Deep link"),
            h("dd", {}, h("code", { id: "preview-link", class: "mono break" }, p.deep_link)),
            h("dt", {}, "Payload URL"),
            h("dd", {}, h("code", { id: "preview-payload", class: "mono break" }, p.payload_url)),
          ),
        ),
        h("div", { class: "actions" }, h("button", { type: "button", class: "subtle", onclick: () => replace(created) }, "Done")),
      ),
    );
  }

  async function reload() {
    try {
      await load();
    } catch (e) {
      if (!ctx.alive || e.name === "AbortError") return;
      if (!form.querySelector("form")) replace(form);
      replace(list, errorBox(e));
    }
  }
  await reload();
}
