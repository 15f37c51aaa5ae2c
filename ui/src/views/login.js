// #/login: a token, checked by listing the apps before it is kept.
import { api, token } from "../api.js";
import { h, notice } from "../dom.js";
import { go, href } from "../router.js";

// A message for the next login view (a session that lost its token).
let pending = "";
export function setLoginMessage(m) {
  pending = m;
}

export function loginView(root) {
  document.title = "Log in · Aloft";
  const input = h("input", {
    id: "token",
    type: "password",
    name: "token",
    autocomplete: "off",
    spellcheck: "false",
    required: true,
    placeholder: "aloft_…",
    "aria-describedby": "login-error",
  });
  const err = h("p", { id: "login-error", class: "error", role: "alert" }, pending);
  pending = "";
  const btn = h("button", { id: "login", type: "submit" }, "Log in");

  const form = h(
    "form",
    { class: "card login", novalidate: true },
    h("h1", {}, "Aloft operator dashboard"),
    h("label", { for: "token" }, "API token"),
    input,
    h("small", { class: "muted" }, "A read token can look; publish and admin tokens can change things. It is kept in this tab only."),
    err,
    h("div", { class: "actions" }, btn),
  );
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const t = input.value.trim();
    if (!t) {
      err.textContent = "Enter a token.";
      input.focus();
      return;
    }
    err.textContent = "";
    btn.disabled = true;
    btn.textContent = "Checking…";
    try {
      // Listing the apps needs the read scope: what every page needs.
      await api("/apps", { token: t, noAuthRedirect: true });
      token.set(t);
      notice("");
      go(href.apps());
    } catch (e2) {
      err.textContent = e2.refused ? `That token was refused: ${e2.message}` : `Could not log in: ${e2.message}`;
      input.select();
    } finally {
      if (btn.isConnected) {
        btn.disabled = false;
        btn.textContent = "Log in";
      }
    }
  });
  root.append(form);
  input.focus();
}
