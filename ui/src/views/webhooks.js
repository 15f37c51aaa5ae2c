// #/apps/{app}/webhooks: endpoints (admin tokens only), adding one (its
// secret is shown this once: the origin keeps only what signs with it),
// ping, enable/disable, delete and each endpoint's delivery log.
import { api, appPath } from "../api.js";
import { busy, guarded, confirmDialog, empty, errorBox, field, h, loading, notice, replace, table, time } from "../dom.js";

const EVENTS = [
  "bundle.published",
  "bundle.deleted",
  "rollout.paused",
  "rollout.rolled_back",
  "rollout.failure_alert",
  "channel.changed",
  "webhook.ping",
];

export async function webhooksView(root, ctx, app) {
  const secretBox = h("div");
  const list = h("div", {}, loading());
  const log = h("div", { id: "webhook-log" });
  root.append(secretBox, list, addForm(), log);

  async function load() {
    const hooks = await api(appPath(app, "webhooks"), { signal: ctx.signal });
    if (!ctx.alive) return;
    if (!hooks?.length) return replace(list, empty("No webhooks. Add an endpoint below to hear of releases and rollout trips."));
    replace(
      list,
      table(
        ["URL", "Events", "Secret", "Created", "State", ""],
        hooks.map((w) => [
          h("span", { class: "mono break" }, w.url),
          w.events?.length ? w.events.join(", ") : "all",
          h("span", { class: "mono" }, `${w.secret_prefix}…`),
          time(w.created_ms),
          w.disabled ? h("span", { class: "badge bad" }, `disabled: ${w.disabled}`) : h("span", { class: "badge ok" }, "enabled"),
          h(
            "span",
            { class: "btns" },
            h("button", { type: "button", class: "subtle", id: `webhook-deliveries-${w.id}`, onclick: () => showLog(w) }, "Deliveries"),
            act("Ping", `webhook-ping-${w.id}`, w, () => api(appPath(app, "webhooks", w.id, "ping"), { method: "POST" }), "Ping queued."),
            w.disabled
              ? act("Enable", `webhook-enable-${w.id}`, w, () => api(appPath(app, "webhooks", w.id), { method: "PATCH", body: { disabled: "" } }), "Enabled.")
              : act("Disable", `webhook-disable-${w.id}`, w, () => api(appPath(app, "webhooks", w.id), { method: "PATCH", body: { disabled: "disabled from the dashboard" } }), "Disabled."),
            deleteButton(w),
          ),
        ]),
        { id: "webhooks-table" },
      ),
    );
  }

  function act(label, id, w, fn, done) {
    const btn = h("button", { type: "button", class: "subtle", id }, label);
    btn.addEventListener("click", () =>
      busy(btn, async () => {
        try {
          await fn();
          notice(`${w.url}: ${done}`);
        } catch (e) {
          notice(`${w.url}: ${e.message}`, "error");
        }
        await reload();
      }),
    );
    return btn;
  }

  function deleteButton(w) {
    const btn = h("button", { type: "button", class: "danger subtle", id: `webhook-delete-${w.id}` }, "Delete");
    btn.addEventListener("click", async () => {
      if (!(await confirmDialog(`Delete the webhook to ${w.url}?`, "Deliveries still queued for it are dropped.", "Delete"))) return;
      await busy(btn, async () => {
        try {
          await api(appPath(app, "webhooks", w.id), { method: "DELETE" });
          notice("Webhook deleted.");
        } catch (e) {
          notice(e.message, "error");
        }
        await reload();
      });
    });
    return btn;
  }

  function addForm() {
    const url = h("input", { type: "url", id: "webhook-url", required: true, placeholder: "https://hooks.example.com/aloft", autocomplete: "off" });
    const boxes = EVENTS.map((ev) => h("input", { type: "checkbox", value: ev }));
    const btn = h("button", { type: "submit", id: "webhook-add-submit" }, "Add webhook");
    const form = h(
      "form",
      { class: "card form", id: "webhook-add" },
      h("h2", {}, "Add a webhook"),
      field("URL", url, "https, a public address"),
      h(
        "fieldset",
        { class: "checks" },
        h("legend", {}, "Events (none ticked: every type)"),
        boxes.map((b) => h("label", {}, b, " ", b.value)),
      ),
      h("div", { class: "actions" }, btn),
    );
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      const events = boxes.filter((b) => b.checked).map((b) => b.value);
      busy(btn, async () => {
        try {
          const w = await api(appPath(app, "webhooks"), { method: "POST", body: { url: url.value.trim(), events } });
          form.reset();
          replace(
            secretBox,
            h(
              "div",
              { class: "card secret", role: "alert" },
              h("h2", {}, "Signing secret"),
              h("p", {}, `Store it with the receiver at ${w.url} now: it is not shown again.`),
              h("code", { class: "mono break", id: "webhook-secret" }, w.secret),
              h("div", { class: "actions" }, h("button", { type: "button", class: "subtle", onclick: () => replace(secretBox) }, "I have stored it")),
            ),
          );
          notice("Webhook added.");
        } catch (err) {
          notice(`Could not add the webhook: ${err.message}`, "error");
        }
        await reload();
      });
    });
    return form;
  }

  async function showLog(w) {
    replace(log, h("h2", {}, `Deliveries to ${w.url}`), loading());
    log.scrollIntoView({ block: "start" });
    try {
      const l = await api(appPath(app, "webhooks", w.id, "deliveries"), { query: { limit: 100 }, signal: ctx.signal });
      if (!ctx.alive) return;
      replace(
        log,
        h("h2", {}, `Deliveries to ${w.url}`),
        l.missing?.length && h("p", { class: "warn" }, `Origin nodes not heard from: ${l.missing.join(", ")}.`),
        l.attempts?.length
          ? table(
              ["At", "Event", "Attempt", "Outcome", "Status", "Took", "Answer", "Next retry"],
              l.attempts.map((a) => [
                time(a.at_ms),
                a.event_type,
                a.attempt,
                a.outcome,
                [a.status || "", a.status && a.error ? " " : "", a.error || ""],
                `${a.duration_ms} ms`,
                h("span", { class: "mono clip" }, a.response || ""),
                a.next_ms ? time(a.next_ms) : "",
              ]),
              { id: "webhook-log-table" },
            )
          : empty("No deliveries yet."),
      );
    } catch (e) {
      if (ctx.alive && e.name !== "AbortError") replace(log, h("h2", {}, `Deliveries to ${w.url}`), errorBox(e));
    }
  }

  const reload = guarded(ctx, list, load);
  await reload();
}
