// Preloaded (node --require) into every @capgo/cli run of the interop tests:
// fetch() may only reach loopback and data: URLs. The commands under test
// are local, but `key create` and `bundle decrypt` ask registry.npmjs.org
// whether a newer CLI exists; the CLI treats a failed fetch as "no news",
// so refusing it at once keeps the tests fast and identical offline.
'use strict';
const realFetch = globalThis.fetch;
const loopback = new Set(['localhost', '127.0.0.1', '[::1]']);
globalThis.fetch = function fetch(input, init) {
  const href = String((input && input.url) || input);
  let url;
  try { url = new URL(href); } catch { return realFetch(input, init); }
  if (url.protocol === 'data:' || loopback.has(url.hostname)) return realFetch(input, init);
  process.stderr.write(`aloft-interop: blocked fetch ${url.origin}${url.pathname}\n`);
  return Promise.reject(new TypeError(`aloft-interop: network disabled (${url.host})`));
};
