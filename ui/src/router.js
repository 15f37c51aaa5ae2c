// Hash routing: every view has a URL (#/apps/{app}/{view}) that can be
// bookmarked or shared, and the origin serves one index.html for all.
//
// A view is async (ctx) => void. ctx.signal aborts when the operator
// navigates away, so a slow answer never paints over the next page, and
// ctx.poll/ctx.onCleanup timers stop with it.

// parse("#/apps/com.x/analytics") → {name: "app", app: "com.x", view: "analytics"}
// Routes: #/login, #/logout, #/apps, #/apps/{app}/{view}, #/fleet, #/tokens.
export function parse(hash) {
  const parts = hash
    .replace(/^#\/?/, "")
    .split("?")[0]
    .split("/")
    .filter(Boolean)
    .map((p) => {
      try {
        return decodeURIComponent(p);
      } catch {
        return p;
      }
    });
  switch (parts[0]) {
    case "login":
      return { name: "login" };
    case "logout":
      return { name: "logout" };
    case "fleet":
      return { name: "fleet" };
    case "tokens":
      return { name: "tokens" };
    case "apps":
      if (parts.length === 1) return { name: "apps" };
      return { name: "app", app: parts[1], view: parts[2] || "channels" };
    default:
      return { name: "home" };
  }
}

export const href = {
  login: () => "#/login",
  apps: () => "#/apps",
  fleet: () => "#/fleet",
  tokens: () => "#/tokens",
  app: (app, view = "channels") => `#/apps/${encodeURIComponent(app)}/${view}`,
};

export function go(hash) {
  if (location.hash === hash) window.dispatchEvent(new HashChangeEvent("hashchange"));
  else location.hash = hash;
}

// start(render): calls render(route, ctx) now and on every hash change.
export function start(render) {
  let current = null;
  const run = () => {
    current?.abort();
    const ac = new AbortController();
    current = ac;
    const ctx = makeContext(ac);
    Promise.resolve(render(parse(location.hash), ctx)).catch((e) => {
      if (e?.name !== "AbortError") console.warn(e); // views show their own errors
    });
  };
  window.addEventListener("hashchange", run);
  run();
}

function makeContext(ac) {
  const cleanups = [];
  ac.signal.addEventListener("abort", () => cleanups.forEach((f) => f()));
  const ctx = {
    signal: ac.signal,
    get alive() {
      return !ac.signal.aborted;
    },
    onCleanup: (f) => cleanups.push(f),
    // poll(fn, ms): fn now, then every ms while the tab is visible (no
    // requests from a background tab), at once when it becomes visible
    // again. fn's failures are its own to show; polling goes on.
    poll(fn, ms) {
      let timer = 0;
      let running = false;
      const tick = async () => {
        clearTimeout(timer);
        if (!ctx.alive || running) return;
        running = true;
        try {
          await fn();
        } catch (e) {
          if (e?.name !== "AbortError") console.warn(e);
        } finally {
          running = false;
        }
        if (ctx.alive && document.visibilityState === "visible") timer = setTimeout(tick, ms);
      };
      const onVis = () => {
        if (document.visibilityState === "visible") tick();
        else clearTimeout(timer);
      };
      document.addEventListener("visibilitychange", onVis);
      cleanups.push(() => {
        clearTimeout(timer);
        document.removeEventListener("visibilitychange", onVis);
      });
      tick();
    },
  };
  return ctx;
}
