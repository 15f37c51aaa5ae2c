// #/apps/{app}/channels: each channel's bundle and rollout, with the
// controls an operator steers a release with. Every change is one PUT of
// the channel (docs/api.md#channels), then a re-fetch, so what is shown is
// always what the origin holds, never what we hoped to set. The rollout
// and bundle forms, and the card's quick controls once its "At" is
// filled, may instead store the change for later (POST
// …/channels/{name}/schedule); pending schedules are listed below the
// cards, each with a Cancel.
import { api, appPath } from "../api.js";
import {
  busy,
  confirmDialog,
  empty,
  errorBox,
  field,
  fromLocalInput,
  h,
  loading,
  localInput,
  notice,
  pct,
  pctOfBps,
  replace,
  table,
  time,
  zoneName,
} from "../dom.js";

export async function channelsView(root, ctx, app) {
  const list = h("div", { class: "channels" }, loading());
  const sched = h(
    "section",
    { id: "schedules", class: "schedules", "aria-labelledby": "schedules-title" },
    h("h2", { id: "schedules-title" }, "Scheduled changes"),
    loading(),
  );
  const extra = h("div");
  root.append(list, sched, extra);
  let bundles = [];
  let dueTimer = 0;
  ctx.onCleanup(() => clearTimeout(dueTimer));

  async function load() {
    const [chs, bs] = await Promise.all([
      api(appPath(app, "channels"), { signal: ctx.signal }),
      api(appPath(app, "bundles"), { signal: ctx.signal }),
    ]);
    if (!ctx.alive) return;
    bundles = (bs || []).map((b) => b.version);
    const focused = document.activeElement?.id;
    if (!chs?.length) {
      replace(list, empty("No channels yet. Create one below."));
    } else {
      replace(
        list,
        chs.map((c) => channelCard(c)),
      );
    }
    replace(extra, newChannelForm());
    // A re-render replaces the controls; keep the keyboard where it was.
    if (focused) document.getElementById(focused)?.focus();
  }

  // change(name, body, done): PUT the change, say what happened, reload.
  async function change(name, body, done) {
    try {
      await api(appPath(app, "channels", name), { method: "PUT", body });
      notice(done);
    } catch (e) {
      notice(`${name}: ${e.message}`, "error");
    }
    await reloadAll();
  }

  // schedule(name, body, atMs, done): store the change for atMs instead.
  async function schedule(name, body, atMs, done) {
    try {
      await api(appPath(app, "channels", name, "schedule"), { method: "POST", body: { at_ms: atMs, change: body } });
      notice(`${done} Scheduled for ${time(atMs)}.`);
    } catch (e) {
      notice(`${name}: could not schedule: ${e.message}`, "error");
    }
    await reloadAll();
  }

  async function reloadAll() {
    try {
      await load();
    } catch (e) {
      if (e.name !== "AbortError") notice(`Could not reload the channels: ${e.message}`, "error");
    }
    await loadSchedules();
  }

  // ---- Scheduled changes: pending ones soonest first, then the last
  // ones that fired or were cancelled (the origin's order). Their own
  // errors stay in their section: the cards above still work.
  async function loadSchedules() {
    let all;
    try {
      all = await api(appPath(app, "schedules"), { signal: ctx.signal });
    } catch (e) {
      if (ctx.alive && e.name !== "AbortError") replace(sched, h("h2", { id: "schedules-title" }, "Scheduled changes"), errorBox(e));
      return;
    }
    if (!ctx.alive) return;
    const focused = document.activeElement?.id;
    const pending = (all || []).filter((x) => !x.fired_ms && !x.cancelled_ms);
    const past = (all || []).filter((x) => x.fired_ms || x.cancelled_ms);
    replace(
      sched,
      h("h2", { id: "schedules-title" }, "Scheduled changes"),
      pending.length
        ? table(
            ["Due", "Channel", "Change", "By", ""],
            pending.map((x) =>
              h(
                "tr",
                { dataset: { schedule: x.id } },
                [time(x.at_ms), h("span", { class: "mono" }, x.channel), describe(x.change), h("span", { class: "mono break" }, x.actor || "—"), cancelButton(x)].map((c) =>
                  h("td", {}, c),
                ),
              ),
            ),
            { id: "schedules-table" },
          )
        : empty("No scheduled changes. Fill in a channel’s “At” (by its controls, or in its rollout or bundle form) to schedule one."),
      past.length > 0 &&
        h(
          "details",
          { class: "more", id: "schedules-history" },
          h("summary", {}, `Fired and cancelled (${past.length})`),
          table(
            ["Due", "Channel", "Change", "By", "Outcome"],
            past.map((x) => [
              time(x.at_ms),
              h("span", { class: "mono" }, x.channel),
              describe(x.change),
              h("span", { class: "mono break" }, x.actor || "—"),
              x.cancelled_ms
                ? h("span", { class: "badge" }, `cancelled ${time(x.cancelled_ms)}`)
                : x.error
                  ? h("span", { class: "badge bad", title: x.error }, `failed ${time(x.fired_ms)}: ${x.error}`)
                  : h("span", { class: "badge ok" }, `fired ${time(x.fired_ms)}`),
            ]),
          ),
        ),
    );
    if (focused) document.getElementById(focused)?.focus();
    // When the soonest one falls due, show what it did (the origin fires
    // it within a second); no timer for days away, nor past 24 days
    // (setTimeout's limit).
    clearTimeout(dueTimer);
    const next = pending.reduce((m, x) => Math.min(m, x.at_ms), Infinity);
    const wait = next - Date.now() + 2000;
    if (Number.isFinite(next) && wait < 6 * 3600 * 1000) dueTimer = setTimeout(() => ctx.alive && reloadAll(), Math.max(wait, 1000));
  }

  function cancelButton(x) {
    const btn = h("button", { type: "button", class: "danger subtle", id: `schedule-cancel-${x.id}` }, "Cancel");
    btn.addEventListener("click", async () => {
      if (!(await confirmDialog(`Cancel the change to ${x.channel} due ${time(x.at_ms)}?`, `It would ${describe(x.change)}. Nothing is changed now.`, "Cancel change"))) return;
      await busy(btn, async () => {
        try {
          await api(appPath(app, "schedules", x.id), { method: "DELETE" });
          notice(`${x.channel}: scheduled change cancelled.`);
        } catch (e) {
          notice(`${x.channel}: ${e.message}`, "error");
        }
        await loadSchedules();
      });
    });
    return btn;
  }

  // atInput(id): the optional "At" of a form; empty means now.
  function atInput(id) {
    return h("input", { type: "datetime-local", id, min: localInput(Date.now()) });
  }
  // whenOf(input) → undefined (now), a future Unix ms, or null (refused,
  // with a notice).
  function whenOf(input) {
    if (!input.value) return undefined;
    const ms = fromLocalInput(input.value);
    if (!(ms > Date.now())) {
      notice("Pick a time in the future, or leave “At” empty to change it now.", "error");
      input.focus();
      return null;
    }
    return ms;
  }
  // Its submit button says what it will do.
  function labelWith(input, btn, now) {
    const sync = () => (btn.textContent = input.value ? "Schedule" : now);
    input.addEventListener("input", sync);
    input.addEventListener("change", sync);
  }
  // The card's quick controls share one "At": filled, each says "later"
  // and stores its change for then instead of acting at once.
  function laterLabels(input, btns) {
    const sync = () => btns.forEach(([b, now]) => (b.textContent = input.value ? `${now} later` : now));
    input.addEventListener("input", sync);
    input.addEventListener("change", sync);
  }
  // act(name, body, when, done): the change now, or at when (Unix ms).
  const act = (name, body, when, done) => (when ? schedule(name, body, when, done) : change(name, body, done));

  function channelCard(c) {
    const r = c.rollout;
    const name = c.name;
    const id = (what) => `${what}-${name}`;
    const prev = previousBundle(c);
    const at = atInput(id("quick-at"));
    const atField = h("div", { class: "row quick-at" }, field(`At (${zoneName()})`, at, "Optional: empty acts at once"));
    const badges = [
      c.public && h("span", { class: "badge" }, "public"),
      c.allow_device_self_set && h("span", { class: "badge" }, "self-set"),
      r && (r.paused ? h("span", { class: "badge warn" }, "paused") : h("span", { class: "badge ok" }, "rolling out")),
      r?.tripped && h("span", { class: "badge bad" }, "guard tripped"),
    ];

    const rollbackLabel = r ? "Roll back" : "Roll back to previous";
    const rollback = h("button", { type: "button", id: id("channel-rollback"), class: "danger" }, rollbackLabel);
    rollback.addEventListener("click", async () => {
      const when = whenOf(at);
      if (when === null) return;
      const ask = when
        ? [
            r ? `End the rollout on ${name} at ${time(when)}?` : `Roll ${name} back at ${time(when)}?`,
            "The rollback is stored and applied then, to the channel as it is then, unless cancelled.",
            "Schedule",
          ]
        : [
            r ? `End the rollout on ${name}?` : `Roll ${name} back?`,
            r
              ? `Devices that got ${r.bundle} go back to ${c.bundle || "nothing"} at their next check.`
              : `Every device of ${name} moves from ${c.bundle || "nothing"} to ${prev}.`,
            "Roll back",
          ];
      const ok = await confirmDialog(...ask);
      if (!ok) return;
      const done = when ? `${name}: roll back.` : r ? `${name}: rollout ended, back on ${c.bundle}.` : `${name}: rolled back.`;
      await busy(rollback, () => act(name, { rollback: true }, when, done));
    });
    if (!r) laterLabels(at, [[rollback, rollbackLabel]]);

    return h(
      "article",
      { class: "card channel", dataset: { channel: name }, "aria-labelledby": id("title") },
      h("header", { class: "card-head" }, h("h2", { id: id("title") }, name), h("span", { class: "badges" }, badges)),
      h(
        "dl",
        { class: "facts" },
        h("dt", {}, "Bundle"),
        h("dd", {}, h("span", { class: "channel-bundle mono" }, c.bundle || "—")),
        c.history?.length > 0 && [h("dt", {}, "Before"), h("dd", { class: "mono" }, c.history.slice(-3).reverse().join(", "))],
        h("dt", {}, "Updated"),
        h("dd", {}, time(c.updated_ms)),
      ),
      r ? rolloutBlock(c, rollback, rollbackLabel, at, atField) : [h("p", { class: "muted" }, "No rollout."), atField, h("div", { class: "actions" }, rollback)],
      h(
        "details",
        { class: "more" },
        h("summary", {}, r ? "Replace the rollout or set the bundle" : "Start a rollout or set the bundle"),
        rolloutForm(c),
        bundleForm(c),
        deleteButton(c),
      ),
    );
  }

  // rolloutBlock(c, rollback, …): the rollout's facts and controls; the
  // rollback button joins its row of actions, and the card's "At" sets
  // when they all act.
  function rolloutBlock(c, rollback, rollbackLabel, at, atField) {
    const r = c.rollout;
    const name = c.name;
    const id = (what) => `${what}-${name}`;
    const start = r.percent_bps / 100;
    const out = h("output", { for: id("rollout-slider"), class: "slider-value" }, pctOfBps(r.percent_bps));
    const slider = h("input", {
      type: "range",
      id: id("rollout-slider"),
      min: "0",
      max: "100",
      step: "0.5",
      value: String(start),
      "aria-label": `Rollout share of ${name}`,
    });
    // Apply stays enabled: re-sending the same share is harmless, and a
    // button that is sometimes disabled is a trap for keyboard users.
    const apply = h("button", { type: "button", id: id("rollout-apply") }, "Apply");
    slider.addEventListener("input", () => {
      out.textContent = `${Number(slider.value)}%`;
      out.classList.toggle("changed", Number(slider.value) !== start);
    });
    apply.addEventListener("click", async () => {
      const when = whenOf(at);
      if (when === null) return;
      const p = Number(slider.value);
      if (p >= 100) {
        const ok = await confirmDialog(`Send ${r.bundle} to every device of ${name}${when ? ` at ${time(when)}` : ""}?`, "A rollout at 100% reaches the whole channel.", "Set 100%");
        if (!ok) return;
      }
      const bps = Math.round(p * 100);
      await busy(apply, () =>
        act(name, { rollout: { bundle: r.bundle, percent_bps: bps, paused: r.paused } }, when, `${name}: ${r.bundle} at ${pctOfBps(bps)}.`),
      );
    });

    const pauseLabel = r.paused ? "Resume" : "Pause";
    const pause = h("button", { type: "button", id: id("rollout-pause") }, pauseLabel);
    pause.addEventListener("click", () => {
      const when = whenOf(at);
      if (when === null) return;
      const done = when ? `${name}: ${r.paused ? "resume" : "pause"} the rollout.` : `${name}: rollout ${r.paused ? "resumed" : "paused"}.`;
      return busy(pause, () => act(name, { rollout_paused: !r.paused }, when, done));
    });
    const promote = h("button", { type: "button", id: id("rollout-promote") }, "Promote");
    promote.addEventListener("click", async () => {
      const when = whenOf(at);
      if (when === null) return;
      const ok = when
        ? await confirmDialog(
            `Promote the rollout on ${name} at ${time(when)}?`,
            "The promotion is stored and applied then, to the rollout running then, unless cancelled.",
            "Schedule",
          )
        : await confirmDialog(`Promote ${r.bundle} on ${name}?`, `${r.bundle} becomes the channel's bundle for every device, and the rollout ends.`, "Promote");
      if (ok) await busy(promote, () => act(name, { promote: true }, when, when ? `${name}: promote the rollout.` : `${name}: ${r.bundle} promoted.`));
    });
    laterLabels(at, [
      [apply, "Apply"],
      [pause, pauseLabel],
      [promote, "Promote"],
      [rollback, rollbackLabel],
    ]);

    const g = r.guard;
    return h(
      "div",
      { class: "rollout" },
      h(
        "dl",
        { class: "facts" },
        h("dt", {}, "Rollout"),
        h("dd", {}, h("span", { class: "rollout-bundle mono" }, r.bundle), " to ", h("strong", { class: "rollout-percent" }, pctOfBps(r.percent_bps)), r.paused ? " (paused)" : ""),
        h("dt", {}, "Started"),
        h("dd", {}, time(r.started_ms)),
        h("dt", {}, "Guard"),
        h("dd", { class: "rollout-guard" }, g ? `${g.action} above ${pct(g.max_failure_rate, 2)} failures, after ${g.min_attempts} attempts` : "none"),
        r.regions?.length > 0 && [
          h("dt", {}, "Stages"),
          h(
            "dd",
            { class: "rollout-stage" },
            `stage ${r.stage} of ${r.regions.length}: `,
            r.regions.map((x, i) => h("span", { class: i < r.stage ? "region on" : "region" }, x)),
            r.stage_minutes ? ` (${r.stage_minutes} min each at least)` : "",
          ),
        ],
      ),
      r.tripped && h("p", { class: "error rollout-tripped", role: "alert" }, `Guard tripped: ${r.tripped}`),
      h("div", { class: "slider-row" }, h("label", { for: id("rollout-slider") }, "Share"), slider, out, apply),
      atField,
      h("div", { class: "actions" }, pause, promote, rollback),
    );
  }

  function bundleSelect(extraOpts = []) {
    const all = [...bundles, ...extraOpts];
    return h("select", { required: true }, all.length ? all.map((v) => h("option", { value: v }, v)) : h("option", { value: "" }, "no bundles"));
  }

  function rolloutForm(c) {
    const name = c.name;
    const bundle = bundleSelect();
    const percent = h("input", { type: "number", min: "0", max: "100", step: "0.5", value: "10", required: true });
    const maxFail = h("input", { type: "number", min: "0.01", max: "99.99", step: "0.01", placeholder: "e.g. 5" });
    const minAttempts = h("input", { type: "number", min: "10", step: "1", value: "100" });
    const action = h("select", {}, ["pause", "rollback", "alert"].map((a) => h("option", { value: a }, a)));
    const regions = h("input", { placeholder: "eu, us", autocomplete: "off" });
    const stageMin = h("input", { type: "number", min: "1", step: "1", placeholder: "10" });
    const nowLabel = c.rollout ? "Replace rollout" : "Start rollout";
    const btn = h("button", { type: "submit", id: `rollout-submit-${name}` }, nowLabel);
    const at = atInput(`rollout-at-${name}`);
    labelWith(at, btn, nowLabel);
    const form = h(
      "form",
      { class: "form", id: `rollout-form-${name}` },
      h("h3", {}, c.rollout ? "New rollout" : "Start a rollout"),
      h("div", { class: "row" }, field("Bundle", bundle), field("Percent", percent)),
      h(
        "div",
        { class: "row" },
        field("Guard: max failure %", maxFail, "Empty: no guard"),
        field("Min attempts", minAttempts),
        field("On trip", action),
      ),
      h("div", { class: "row" }, field("Stage by regions", regions, "Optional; needs a guard"), field("Minutes per stage", stageMin)),
      h("div", { class: "row" }, field(`At (${zoneName()})`, at, "Optional: empty starts it now")),
      h("div", { class: "actions" }, btn),
    );
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const p = Number(percent.value);
      if (!bundle.value) return notice("Publish a bundle first.", "error");
      const when = whenOf(at);
      if (when === null) return;
      const whenText = when ? ` at ${time(when)}` : "";
      if (p >= 100 && !(await confirmDialog(`Send ${bundle.value} to every device of ${name}${whenText}?`, "A rollout at 100% reaches the whole channel.", "Set 100%"))) return;
      const spec = { bundle: bundle.value, percent_bps: Math.round(p * 100), paused: false };
      if (maxFail.value !== "") {
        spec.guard = { max_failure_rate: Number(maxFail.value) / 100, min_attempts: Number(minAttempts.value || 100), action: action.value };
      }
      const rs = regions.value.split(/[\s,]+/).filter(Boolean);
      if (rs.length) spec.regions = rs;
      if (stageMin.value) spec.stage_minutes = Number(stageMin.value);
      if (when) return busy(btn, () => schedule(name, { rollout: spec }, when, `${name}: rollout of ${spec.bundle} to ${pctOfBps(spec.percent_bps)}.`));
      await busy(btn, () => change(name, { rollout: spec }, `${name}: rolling out ${spec.bundle} to ${pctOfBps(spec.percent_bps)}.`));
    });
    return form;
  }

  function bundleForm(c) {
    const name = c.name;
    const sel = bundleSelect(["builtin"]);
    if (c.bundle) sel.value = c.bundle;
    const btn = h("button", { type: "submit", id: `bundle-submit-${name}` }, "Set bundle");
    const at = atInput(`bundle-at-${name}`);
    labelWith(at, btn, "Set bundle");
    const form = h(
      "form",
      { class: "form", id: `bundle-form-${name}` },
      h("h3", {}, "Channel bundle"),
      h("div", { class: "row" }, field("Bundle", sel, "Every device of the channel gets it"), field(`At (${zoneName()})`, at, "Optional: empty sets it now")),
      h("div", { class: "actions" }, btn),
    );
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const v = sel.value;
      const when = whenOf(at);
      if (when === null) return;
      if (when) {
        if (!(await confirmDialog(`Move every device of ${name} to ${v} at ${time(when)}?`, `The channel now serves ${c.bundle || "nothing"}. The change is stored and applied then, unless cancelled.`, "Schedule"))) return;
        return busy(btn, () => schedule(name, { bundle: v }, when, `${name}: ${v}.`));
      }
      if (!(await confirmDialog(`Move every device of ${name} to ${v}?`, `The channel now serves ${c.bundle || "nothing"}.`, "Set bundle"))) return;
      await busy(btn, () => change(name, { bundle: v }, `${name}: now on ${v}.`));
    });
    return form;
  }

  function deleteButton(c) {
    const btn = h("button", { type: "button", class: "danger subtle", id: `channel-delete-${c.name}` }, "Delete channel");
    btn.addEventListener("click", async () => {
      if (!(await confirmDialog(`Delete channel ${c.name}?`, "Device overrides naming it are dropped too.", "Delete"))) return;
      await busy(btn, async () => {
        try {
          await api(appPath(app, "channels", c.name), { method: "DELETE" });
          notice(`Deleted channel ${c.name}.`);
        } catch (e) {
          notice(`${c.name}: ${e.message}`, "error");
        }
        await reloadAll();
      });
    });
    return h("div", { class: "actions" }, btn);
  }

  function newChannelForm() {
    const name = h("input", { required: true, placeholder: "production", autocomplete: "off", spellcheck: "false" });
    const sel = bundleSelect(["builtin"]);
    const pub = h("input", { type: "checkbox" });
    const btn = h("button", { type: "submit" }, "Create channel");
    const form = h(
      "form",
      { class: "card form", id: "new-channel" },
      h("h2", {}, "New channel"),
      h(
        "div",
        { class: "row" },
        field("Name", name),
        field("Bundle", sel),
        h("div", { class: "field check" }, h("label", {}, pub, " Public (the default channel for devices)")),
      ),
      h("div", { class: "actions" }, btn),
    );
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      const n = name.value.trim();
      if (!n) return name.focus();
      busy(btn, () => change(n, { bundle: sel.value, public: pub.checked }, `Channel ${n} saved.`));
    });
    return form;
  }

  try {
    await load();
  } catch (e) {
    if (ctx.alive && e.name !== "AbortError") replace(list, errorBox(e));
  }
  await loadSchedules();
}

// describe(change): a channel change (PUT body) in words, for the
// schedule list and its confirmation.
function describe(c = {}) {
  const out = [];
  if (c.bundle != null) out.push(`set the bundle to ${c.bundle}`);
  const r = c.rollout;
  if (r) {
    let t = `roll out ${r.bundle} to ${pctOfBps(r.percent_bps || 0)}${r.paused ? " (paused)" : ""}`;
    if (r.guard) t += `, guard ${r.guard.action} above ${pct(r.guard.max_failure_rate, 2)}`;
    if (r.regions?.length) t += `, by region ${r.regions.join(", ")}`;
    out.push(t);
  }
  if (c.clear_rollout) out.push("clear the rollout");
  if (c.rollout_paused != null) out.push(c.rollout_paused ? "pause the rollout" : "resume the rollout");
  if (c.promote) out.push("promote the rollout");
  if (c.rollback) out.push("roll back");
  if (c.advance_stage) out.push("open the next region");
  const known = new Set(["bundle", "rollout", "clear_rollout", "rollout_paused", "promote", "rollback", "advance_stage"]);
  const rest = Object.entries(c).filter(([k, v]) => !known.has(k) && v != null && v !== "" && v !== false);
  if (rest.length) out.push(`set ${rest.map(([k, v]) => `${k}=${typeof v === "object" ? JSON.stringify(v) : v}`).join(", ")}`);
  return out.join("; ") || "change nothing";
}

// What a rollback without a rollout moves the channel to (the origin
// skips deleted bundles; this is only the operator's preview of it).
function previousBundle(c) {
  const hist = c.history || [];
  return hist.length ? hist[hist.length - 1] : "builtin";
}
