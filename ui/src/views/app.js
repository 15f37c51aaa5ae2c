// #/apps/{app}/{view}: the app's header and tabs, then the view itself.
import { h } from "../dom.js";
import { href } from "../router.js";
import { channelsView } from "./channels.js";
import { bundlesView } from "./bundles.js";
import { devicesView } from "./devices.js";
import { analyticsView } from "./analytics.js";
import { webhooksView } from "./webhooks.js";
import { previewsView } from "./previews.js";
import { auditView } from "./audit.js";
import { settingsView } from "./settings.js";

const views = {
  channels: ["Channels", channelsView],
  bundles: ["Bundles", bundlesView],
  devices: ["Devices", devicesView],
  analytics: ["Analytics", analyticsView],
  webhooks: ["Webhooks", webhooksView],
  previews: ["Previews", previewsView],
  audit: ["Audit", auditView],
  settings: ["Settings", settingsView],
};

export function appView(root, ctx, app, view) {
  const tabs = h(
    "nav",
    { class: "tabs", "aria-label": "App views" },
    Object.entries(views).map(([k, [label]]) =>
      h("a", { href: href.app(app, k), "aria-current": k === view ? "page" : null, id: `tab-${k}` }, label),
    ),
  );
  const body = h("section", { class: "app-body", "aria-labelledby": "view-title" });
  root.append(
    h("p", { class: "crumbs" }, h("a", { href: href.apps() }, "Apps"), " / ", h("span", { class: "mono" }, app)),
    tabs,
    body,
  );
  // On a phone the tabs scroll sideways: keep the current one in sight.
  tabs.querySelector("[aria-current]")?.scrollIntoView({ block: "nearest", inline: "nearest" });
  const v = views[view];
  if (!v) {
    body.append(h("h1", { id: "view-title" }, "Not found"), h("p", {}, `There is no “${view}” view. Pick one above.`));
    return;
  }
  body.append(h("h1", { id: "view-title" }, v[0]));
  return v[1](body, ctx, app);
}
