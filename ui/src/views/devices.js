// #/apps/{app}/devices: device overrides (a device pinned to a channel),
// set and unset, and one device's recent events.
import { api, appPath } from "../api.js";
import { busy, guarded, confirmDialog, empty, errorBox, field, h, loading, notice, replace, table, time } from "../dom.js";

export async function devicesView(root, ctx, app) {
  const list = h("div", {}, loading());
  const forms = h("div");
  const timeline = h("div");
  root.append(list, forms, timeline);
  let channels = [];

  async function load() {
    const [ovs, chs] = await Promise.all([
      api(appPath(app, "devices"), { signal: ctx.signal }),
      api(appPath(app, "channels"), { signal: ctx.signal }),
    ]);
    if (!ctx.alive) return;
    channels = (chs || []).map((c) => c.name);
    if (!ovs?.length) replace(list, empty("No device overrides. Every device follows its default or the public channel."));
    else
      replace(
        list,
        table(
          ["Device", "Channel", "Set by", "Updated", ""],
          ovs.map((o) => [
            h("span", { class: "mono" }, o.device_id),
            o.channel,
            o.self_set ? "the device" : "an operator",
            time(o.updated_ms),
            [
              h("button", { type: "button", class: "subtle", onclick: () => showTimeline(o.device_id) }, "Events"),
              " ",
              unsetButton(o.device_id),
            ],
          ]),
          { id: "devices-table" },
        ),
      );
    if (!forms.firstChild) forms.append(setForm(), lookupForm());
  }

  function unsetButton(dev) {
    const btn = h("button", { type: "button", class: "danger subtle", id: `device-unset-${dev}` }, "Unset");
    btn.addEventListener("click", async () => {
      if (!(await confirmDialog(`Unset the override of ${dev}?`, "The device goes back to its default or the public channel.", "Unset"))) return;
      await busy(btn, async () => {
        try {
          await api(appPath(app, "devices", dev), { method: "DELETE" });
          notice(`${dev}: override removed.`);
        } catch (e) {
          notice(`${dev}: ${e.message}`, "error");
        }
        await reload();
      });
    });
    return btn;
  }

  function setForm() {
    const dev = h("input", { id: "device-id", required: true, placeholder: "device UUID", autocomplete: "off", spellcheck: "false", class: "mono" });
    const ch = h("input", { id: "device-channel", required: true, placeholder: "beta", autocomplete: "off", list: "device-channels" });
    const dl = h("datalist", { id: "device-channels" }, channels.map((c) => h("option", { value: c })));
    const btn = h("button", { type: "submit", id: "device-set-submit" }, "Set override");
    const form = h(
      "form",
      { class: "card form", id: "device-set" },
      h("h2", {}, "Pin a device to a channel"),
      h("div", { class: "row" }, field("Device id", dev), field("Channel", ch), dl),
      h("div", { class: "actions" }, btn),
    );
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      const d = dev.value.trim().toLowerCase();
      const c = ch.value.trim();
      if (!d || !c) return notice("Name a device and a channel.", "error");
      busy(btn, async () => {
        try {
          await api(appPath(app, "devices", d), { method: "PUT", body: { channel: c } });
          notice(`${d} now on ${c}.`);
          dev.value = "";
        } catch (err) {
          notice(`${d}: ${err.message}`, "error");
        }
        await reload();
      });
    });
    return form;
  }

  function lookupForm() {
    const dev = h("input", { id: "device-lookup-id", required: true, placeholder: "device UUID", autocomplete: "off", spellcheck: "false", class: "mono" });
    const form = h(
      "form",
      { class: "card form", id: "device-lookup" },
      h("h2", {}, "A device's recent events"),
      h("div", { class: "row" }, field("Device id", dev)),
      h("div", { class: "actions" }, h("button", { type: "submit" }, "Show events")),
    );
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      if (dev.value.trim()) showTimeline(dev.value.trim().toLowerCase());
    });
    return form;
  }

  async function showTimeline(dev) {
    replace(timeline, h("h2", {}, `Events of ${dev}`), loading());
    timeline.scrollIntoView({ block: "start" });
    try {
      const t = await api(appPath(app, "devices", dev, "timeline"), { signal: ctx.signal });
      if (!ctx.alive) return;
      const evs = (t.events || []).slice().reverse(); // newest first
      replace(
        timeline,
        h("h2", {}, `Events of ${dev}`),
        h(
          "p",
          {},
          `Runs ${t.version || "?"}`,
          t.channel && ` on ${t.channel}`,
          t.platform && `, ${t.platform}`,
          t.plugin_version && `, plugin ${t.plugin_version}`,
          `; last seen ${time(t.last_seen * 1000)}.`,
          t.missing?.length ? ` Not heard from: ${t.missing.join(", ")}.` : "",
        ),
        evs.length
          ? table(
              ["At", "Action", "Version", "From", "File"],
              evs.map((ev) => [time(ev.at), ev.action, ev.version, ev.old_version || "", ev.file || ""]),
            )
          : empty("No events."),
      );
    } catch (e) {
      if (ctx.alive && e.name !== "AbortError") replace(timeline, h("h2", {}, `Events of ${dev}`), errorBox(e));
    }
  }

  const reload = guarded(ctx, list, load);
  await reload();
}
