// #/apps: the apps the token may see, and a form to create one.
import { api } from "../api.js";
import { busy, empty, errorBox, field, h, loading, notice, replace, time } from "../dom.js";
import { go, href } from "../router.js";

export async function appsView(root, ctx) {
  const list = h("div", { class: "list" }, loading());
  root.append(h("h1", {}, "Apps"), list, createForm());

  try {
    const apps = await api("/apps", { signal: ctx.signal });
    if (!ctx.alive) return;
    if (!apps?.length) {
      replace(list, empty("No apps yet. Create one below, or with `aloft app create`."));
      return;
    }
    apps.sort((a, b) => a.app_id.localeCompare(b.app_id));
    replace(
      list,
      h(
        "ul",
        { class: "cards apps" },
        apps.map((a) =>
          h(
            "li",
            {},
            h(
              "a",
              { class: "card app-link", href: href.app(a.app_id), dataset: { app: a.app_id } },
              h("strong", {}, a.name || a.app_id),
              a.name && a.name !== a.app_id && h("span", { class: "mono muted" }, a.app_id),
              h("small", { class: "muted" }, `created ${time(a.created_ms)}`),
            ),
          ),
        ),
      ),
    );
  } catch (e) {
    if (ctx.alive && e.name !== "AbortError") replace(list, errorBox(e));
  }
}

function createForm() {
  const id = h("input", { required: true, placeholder: "com.example.app", autocomplete: "off", spellcheck: "false" });
  const name = h("input", { placeholder: "Example", autocomplete: "off" });
  const btn = h("button", { type: "submit" }, "Create app");
  const form = h(
    "form",
    { class: "card form" },
    h("h2", {}, "New app"),
    h("div", { class: "row" }, field("App id", id), field("Name", name)),
    h("div", { class: "actions" }, btn),
  );
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    busy(btn, async () => {
      try {
        const a = await api("/apps", { method: "POST", body: { app_id: id.value.trim(), name: name.value.trim() } });
        notice(`Created ${a.app_id}.`);
        go(href.app(a.app_id));
      } catch (err) {
        notice(`Could not create the app: ${err.message}`, "error");
      }
    });
  });
  return form;
}
