// The dashboard's entry: the page shell (header, #notice, #view), login
// gating, and which view each route draws.
import "uplot/dist/uPlot.min.css";
import "./style.css";

import { setUnauthorizedHandler, token } from "./api.js";
import { h, notice, replace } from "./dom.js";
import { go, href, start } from "./router.js";
import { loginView, setLoginMessage } from "./views/login.js";
import { appsView } from "./views/apps.js";
import { appView } from "./views/app.js";
import { fleetView } from "./views/fleet.js";
import { tokensView } from "./views/tokens.js";

const nav = h(
  "nav",
  { class: "top-nav", "aria-label": "Main" },
  h("a", { href: href.apps(), "data-nav": "apps" }, "Apps"),
  h("a", { href: href.fleet(), "data-nav": "fleet" }, "Fleet"),
  h("a", { href: href.tokens(), "data-nav": "tokens" }, "Tokens"),
  h("a", { href: "#/logout", id: "logout" }, "Log out"),
);
const view = h("main", { id: "view", tabindex: "-1" });
document.body.prepend(
  h("a", { href: "#view", class: "skip", onclick: (e) => (e.preventDefault(), view.focus()) }, "Skip to content"),
  h("header", { class: "top" }, h("a", { class: "brand", href: href.apps() }, "Aloft"), nav),
  h("div", { id: "notice", class: "notice", role: "status", "aria-live": "polite", hidden: true }),
  view,
);

// A token that stops working mid-session (revoked, expired) sends the
// operator back to log in, saying why.
setUnauthorizedHandler((err) => {
  token.clear();
  setLoginMessage(`That token was refused: ${err.message}`);
  go(href.login());
});

start(async (route, ctx) => {
  const authed = !!token.get();
  nav.hidden = !authed;
  if (route.name === "logout") {
    token.clear();
    notice("Logged out.");
    return go(href.login());
  }
  if (!authed && route.name !== "login") return go(href.login());
  if (route.name === "home") return go(authed ? href.apps() : href.login());

  for (const a of nav.querySelectorAll("[data-nav]")) {
    const here = a.dataset.nav === route.name || (a.dataset.nav === "apps" && route.name === "app");
    if (here) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  replace(view);
  window.scrollTo(0, 0);
  switch (route.name) {
    case "login":
      return loginView(view, ctx);
    case "apps":
      document.title = "Apps · Aloft";
      return appsView(view, ctx);
    case "app":
      document.title = `${route.app} · ${route.view} · Aloft`;
      return appView(view, ctx, route.app, route.view);
    case "fleet":
      document.title = "Fleet · Aloft";
      return fleetView(view, ctx);
    case "tokens":
      document.title = "Tokens · Aloft";
      return tokensView(view, ctx);
  }
});
