// Drives the dashboard's bundles, webhooks, previews, devices and fleet
// pages in headless Chromium. The Go test (dev/ui_browser_test.go,
// TestDashboard_PagesInChromium) checks each click's effect through the
// origin's API and the edge while the page waits: at each checkpoint this
// prints one JSON line {"at": name, ...what the page showed} and reads a
// line from stdin, "go" to carry on (anything else, or EOF, stops the
// run). The last line is the report, {"steps": [...], ...}.
//
//   node pages.mjs <origin base URL> <token> <app> <params JSON>
//
// params: {zip, version, comment, hook, edge, device, channel}: the zip
// file to upload as version, the webhook receiver's URL, the edge's base
// URL (for the preview's payload), the device to pin to channel.
// CHROMIUM names the browser (default: Debian's /usr/bin/chromium).
import { createInterface } from "node:readline";
import { chromium } from "playwright-core";

const [base, token, app, paramsJSON] = process.argv.slice(2);
if (!base || !token || !app || !paramsJSON) {
  console.error("usage: node pages.mjs <base> <token> <app> <params JSON>");
  process.exit(2);
}
const p = JSON.parse(paramsJSON);
const report = { steps: [] };
const step = (name) => report.steps.push(name);

const stdin = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
async function checkpoint(at, seen = {}) {
  process.stdout.write(JSON.stringify({ at, ...seen }) + "\n");
  const { value, done } = await stdin.next();
  if (done || value.trim() !== "go") throw new Error(`the test stopped the run at ${at}: ${done ? "EOF" : value}`);
  step(at);
}

// The row of a table whose text contains every one of words, or null.
const rowText = (page, table, ...words) =>
  page.$$eval(`${table} tbody tr`, (trs, ws) => trs.map((tr) => tr.innerText).find((t) => ws.every((w) => t.includes(w))) || null, words);

// A selector for an id with dots in it (versions), which # cannot take.
const byId = (id) => `[id="${id}"]`;

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  // Root in CI has no user namespace for the sandbox.
  args: ["--no-sandbox", "--disable-dev-shm-usage"],
});
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const consoleErrors = [];
  page.on("console", (m) => m.type() === "error" && consoleErrors.push(m.text()));
  page.on("pageerror", (e) => consoleErrors.push(String(e)));

  await page.goto(`${base}/ui/#/login`);
  await page.fill("#token", token);
  await page.click("#login");
  await page.waitForSelector(`[data-app="${app}"]`, { timeout: 10000 });
  step("logged in");

  // Bundles: a zip picked in the upload form, published, then listed.
  await page.goto(`${base}/ui/#/apps/${app}/bundles`);
  await page.waitForSelector("#bundle-upload", { timeout: 10000 });
  await page.setInputFiles("#bundle-file", p.zip);
  await page.fill("#bundle-version", p.version);
  await page.fill("#bundle-comment", p.comment);
  await page.click("#bundle-upload-submit");
  await page.waitForSelector(byId(`bundle-delete-${p.version}`), { timeout: 10000 });
  await checkpoint("uploaded", { row: await rowText(page, "#bundles-table", p.version), notice: (await page.textContent("#notice")).trim() });

  // Webhooks: an endpoint for pings only, its secret shown once, a ping,
  // and the delivery in the endpoint's log.
  await page.goto(`${base}/ui/#/apps/${app}/webhooks`);
  await page.waitForSelector("#webhook-add", { timeout: 10000 });
  await page.fill("#webhook-url", p.hook);
  await page.check('#webhook-add input[value="webhook.ping"]');
  await page.click("#webhook-add-submit");
  await page.waitForSelector("#webhook-secret:not(:empty)", { timeout: 10000 });
  const secret = (await page.textContent("#webhook-secret")).trim();
  const ping = await page.waitForSelector('[id^="webhook-ping-"]', { timeout: 10000 });
  const hookID = (await ping.getAttribute("id")).slice("webhook-ping-".length);
  await ping.click();
  await page.waitForFunction(() => document.querySelector("#notice")?.textContent.includes("Ping queued"), null, { timeout: 10000 });
  await checkpoint("pinged", { secret, id: hookID });
  // The log is read when opened, not polled: open it until the attempt
  // the receiver answered is in it.
  let delivery = null;
  for (const until = Date.now() + 10000; !delivery && Date.now() < until; ) {
    await page.click(`#webhook-deliveries-${hookID}`);
    await page.waitForSelector("#webhook-log-table, #webhook-log .empty, #webhook-log .error", { timeout: 5000 });
    delivery = await rowText(page, "#webhook-log-table", "webhook.ping", "delivered").catch(() => null);
    if (!delivery) await page.waitForTimeout(200);
  }
  report.delivery = delivery;
  step("delivery logged");

  // Previews: a link to the uploaded bundle, its deep link and QR shown
  // once; then revoked.
  await page.goto(`${base}/ui/#/apps/${app}/previews`);
  await page.waitForSelector("#preview-create", { timeout: 10000 });
  await page.selectOption("#preview-kind", "bundle");
  await page.selectOption("#preview-target", p.version);
  await page.selectOption("#preview-ttl", "3600");
  await page.fill("#preview-edge", p.edge);
  await page.click("#preview-submit");
  await page.waitForSelector("#preview-link:not(:empty)", { timeout: 10000 });
  const qr = await page.$eval("#preview-qr", (img) => ({ src: img.getAttribute("src"), width: img.naturalWidth, complete: img.complete })).catch(() => null);
  await checkpoint("preview", {
    deepLink: (await page.textContent("#preview-link")).trim(),
    payload: (await page.textContent("#preview-payload")).trim(),
    qr,
  });
  const revoke = await page.waitForSelector('[id^="preview-revoke-"]', { timeout: 10000 });
  await revoke.click();
  await page.click("#confirm-yes");
  await page.waitForSelector('[id^="preview-revoke-"]', { state: "detached", timeout: 10000 });
  await checkpoint("revoked");

  // Devices: pin one to a channel, then unset it (confirmed).
  await page.goto(`${base}/ui/#/apps/${app}/devices`);
  await page.waitForSelector("#device-set", { timeout: 10000 });
  await page.fill("#device-id", p.device);
  await page.fill("#device-channel", p.channel);
  await page.click("#device-set-submit");
  const unset = `#device-unset-${p.device}`;
  await page.waitForSelector(unset, { timeout: 10000 });
  await checkpoint("pinned", { row: await rowText(page, "#devices-table", p.device) });
  await page.click(unset);
  await page.click("#confirm-yes");
  await page.waitForSelector(unset, { state: "detached", timeout: 10000 });
  await checkpoint("unpinned");

  // Fleet: every edge, as the page's table shows it.
  await page.goto(`${base}/ui/#/fleet`);
  await page.waitForSelector("#edges-table", { timeout: 10000 });
  report.edges = await page.$$eval("#edges-table tbody tr", (trs) =>
    trs.map((tr) => {
      const td = [...tr.querySelectorAll("td")].map((c) => c.innerText.trim());
      return { name: td[0], region: td[1], index: td[2], live: td[5] };
    }),
  );
  report.fleetStatus = (await page.textContent("#fleet-status")).trim();
  step("fleet");

  report.consoleErrors = consoleErrors;
} catch (e) {
  report.error = String(e && e.stack ? e.stack : e);
} finally {
  await browser.close();
}
process.stdout.write(JSON.stringify(report) + "\n");
process.exit(report.error ? 1 : 0);
