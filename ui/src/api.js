// The operator API, as the dashboard calls it: same origin, bearer token
// from sessionStorage, errors turned into ApiError with the server's own
// words ({"error": code, "message": text}, origin/api/operator.go Error).

const TOKEN_KEY = "aloft.token";
const PREFIX = "/api/v1";

// sessionStorage, not localStorage: the token is a bearer secret and
// should die with the tab.
export const token = {
  get: () => sessionStorage.getItem(TOKEN_KEY) || "",
  set: (t) => sessionStorage.setItem(TOKEN_KEY, t),
  clear: () => sessionStorage.removeItem(TOKEN_KEY),
};

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message || code || `HTTP ${status}`);
    this.status = status;
    this.code = code;
  }
  // A refused token: unknown, revoked, expired, or lacking the scope.
  get refused() {
    return this.status === 401 || this.status === 403;
  }
}

// The highest raft index a write answer named: reads send it as
// X-Aloft-After so a follower behind the leader waits for our own write
// instead of showing the state from before it.
let seenIndex = 0;

// Called with the error of a 401 on any page but login, so the app can
// send the operator back to log in (app.js sets it).
let onUnauthorized = () => {};
export function setUnauthorizedHandler(fn) {
  onUnauthorized = fn;
}

// api(path, {method, body, signal, query, raw}) → parsed JSON (null for
// 204). body: an object (sent as JSON) or a Blob/File (sent as is, with
// its own type). query: an object of parameters ("" and null skipped).
export async function api(path, opts = {}) {
  const method = opts.method || "GET";
  const headers = { Accept: "application/json" };
  const t = opts.token ?? token.get();
  if (t) headers.Authorization = `Bearer ${t}`;
  let body;
  if (opts.body instanceof Blob) {
    body = opts.body;
    headers["Content-Type"] = opts.contentType || opts.body.type || "application/octet-stream";
  } else if (opts.body !== undefined) {
    body = JSON.stringify(opts.body);
    headers["Content-Type"] = "application/json";
  }
  if (method === "GET" && seenIndex > 0) headers["X-Aloft-After"] = String(seenIndex);
  let url = PREFIX + path;
  if (opts.query) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(opts.query)) if (v !== "" && v != null) q.set(k, String(v));
    const s = q.toString();
    if (s) url += (url.includes("?") ? "&" : "?") + s;
  }

  let res;
  try {
    res = await fetch(url, { method, headers, body, signal: opts.signal, cache: "no-store" });
  } catch (e) {
    if (e.name === "AbortError") throw e;
    throw new ApiError(0, "network", `The origin did not answer (${e.message}).`);
  }
  const idx = Number(res.headers.get("X-Aloft-Index"));
  if (method !== "GET" && idx > seenIndex) seenIndex = idx;

  const text = await res.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!res.ok) {
    const err = errorOf(res, data, text);
    if (res.status === 401 && !opts.noAuthRedirect) onUnauthorized(err);
    throw err;
  }
  return res.status === 204 ? null : data;
}

function errorOf(res, data, text) {
  if (data && typeof data === "object") {
    // The origin's shape is flat; a nested {"error":{code,message}} is
    // accepted too, should a proxy or a later version answer so.
    const e = data.error;
    if (e && typeof e === "object") return new ApiError(res.status, e.code || "", e.message || "");
    if (typeof e === "string") return new ApiError(res.status, e, data.message || "");
  }
  const snippet = (text || "").trim().slice(0, 200);
  return new ApiError(res.status, "", snippet || `${res.status} ${res.statusText}`.trim());
}

// Path segments from the operator (app ids, channel names, versions) are
// escaped one by one so a name with "/" or "?" cannot change the route.
export const seg = (s) => encodeURIComponent(s);
export const appPath = (app, ...rest) => ["/apps", seg(app), ...rest.map(seg)].join("/");
