// #/apps/{app}/bundles: published bundles (newest first), a zip upload
// (the raw form of PUT …/bundles/{version}: the origin validates it the
// way the plugin would) and delete.
import { api, appPath } from "../api.js";
import { busy, guarded, bytes, confirmDialog, empty, field, h, loading, notice, replace, table, time } from "../dom.js";

export async function bundlesView(root, ctx, app) {
  const list = h("div", {}, loading());
  root.append(list, uploadForm());

  async function load() {
    const [bs, chs] = await Promise.all([
      api(appPath(app, "bundles"), { signal: ctx.signal }),
      api(appPath(app, "channels"), { signal: ctx.signal }),
    ]);
    if (!ctx.alive) return;
    // Which channels serve each bundle: a bundle in use cannot be deleted.
    const uses = {};
    for (const c of chs || []) {
      (uses[c.bundle] ||= []).push(c.name);
      if (c.rollout) (uses[c.rollout.bundle] ||= []).push(`${c.name} (rollout)`);
    }
    if (!bs?.length) return replace(list, empty("No bundles yet. Upload a zip below, or run `aloft bundle upload`."));
    replace(
      list,
      table(
        ["Version", "Published", "Size", "Kind", "Served by", "Notes", ""],
        bs.map((b) => [
          h("span", { class: "mono" }, b.version),
          time(b.created_ms),
          bytes(b.zip_size),
          [b.session_key ? "encrypted" : "plain", b.manifest?.length ? `, ${b.manifest.length} files` : ""],
          (uses[b.version] || []).join(", ") || h("span", { class: "muted" }, "—"),
          [
            b.min_update_version && `min native ${b.min_update_version}. `,
            b.comment,
            b.link && [" ", h("span", { class: "mono" }, b.link)],
          ],
          deleteButton(b.version, !!uses[b.version]),
        ]),
        { id: "bundles-table" },
      ),
    );
  }

  function deleteButton(version, inUse) {
    const btn = h("button", { type: "button", class: "danger subtle", id: `bundle-delete-${version}`, title: inUse ? "A channel serves it" : null }, "Delete");
    btn.addEventListener("click", async () => {
      if (!(await confirmDialog(`Delete bundle ${version}?`, "It cannot be published again with other content under this version.", "Delete"))) return;
      await busy(btn, async () => {
        try {
          await api(appPath(app, "bundles", version), { method: "DELETE" });
          notice(`Deleted ${version}.`);
        } catch (e) {
          notice(`${version}: ${e.message}`, "error");
        }
        await reload();
      });
    });
    return btn;
  }

  function uploadForm() {
    const file = h("input", { type: "file", id: "bundle-file", accept: ".zip,application/zip", required: true });
    const version = h("input", { id: "bundle-version", required: true, placeholder: "1.2.0", autocomplete: "off", spellcheck: "false" });
    const minNative = h("input", { id: "bundle-min-native", placeholder: "optional", autocomplete: "off" });
    const comment = h("input", { id: "bundle-comment", placeholder: "optional", autocomplete: "off" });
    const link = h("input", { type: "url", id: "bundle-link", placeholder: "optional", autocomplete: "off" });
    const btn = h("button", { type: "submit", id: "bundle-upload-submit" }, "Upload");
    const form = h(
      "form",
      { class: "card form", id: "bundle-upload" },
      h("h2", {}, "Upload a bundle"),
      h("p", { class: "muted" }, "A plain zip of the web build (index.html at its root or in one top folder). Encrypted bundles: use `aloft bundle upload --encrypt`."),
      h("div", { class: "row" }, field("Zip", file), field("Version", version)),
      h("div", { class: "row" }, field("Min native version", minNative), field("Comment", comment), field("Link", link)),
      h("div", { class: "actions" }, btn),
    );
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      const f = file.files[0];
      const v = version.value.trim();
      if (!f || !v) return notice("Pick a zip and name its version.", "error");
      busy(btn, async () => {
        btn.textContent = "Uploading…";
        try {
          await api(appPath(app, "bundles", v), {
            method: "PUT",
            body: f,
            contentType: "application/zip",
            query: { min_update_version: minNative.value.trim(), comment: comment.value.trim(), link: link.value.trim() },
          });
          notice(`Published ${v}.`);
          form.reset();
        } catch (err) {
          notice(`Could not publish ${v}: ${err.message}`, "error");
        } finally {
          btn.textContent = "Upload";
        }
        await reload();
      });
    });
    return form;
  }

  const reload = guarded(ctx, list, load);
  await reload();
}
