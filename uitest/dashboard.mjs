// Drives the dashboard in headless Chromium as an operator would, and
// prints what it saw as one JSON object on stdout. The Go test
// (dev/ui_browser_test.go) seeds the server, runs this, and checks both
// this report and the catalog the clicks changed.
//
//   node dashboard.mjs <origin base URL> <token> <app> <screenshot path>
//
// CHROMIUM names the browser (default: Debian's /usr/bin/chromium).
import { chromium } from "playwright-core";

const [base, token, app, shot] = process.argv.slice(2);
if (!base || !token || !app || !shot) {
  console.error("usage: node dashboard.mjs <base> <token> <app> <screenshot>");
  process.exit(2);
}
const report = { steps: [] };
const step = (name) => report.steps.push(name);

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

  // A refused token: a message in words, and no way in.
  await page.goto(`${base}/ui/#/login`);
  await page.fill("#token", "aloft_not_a_token");
  await page.click("#login");
  await page.waitForSelector("#login-error:not(:empty)", { timeout: 10000 });
  report.loginError = (await page.textContent("#login-error")).trim();
  step("refused token");
  // Chromium logs the 401 it was just answered as a console error; from
  // here on, any error is the page's.
  consoleErrors.length = 0;

  // The real one: the apps list, then the app's analytics.
  await page.fill("#token", token);
  await page.click("#login");
  await page.waitForSelector(`[data-app="${app}"]`, { timeout: 10000 });
  report.landedOn = new URL(page.url()).hash;
  step("logged in");

  await page.goto(`${base}/ui/#/apps/${app}/analytics`);
  await page.waitForSelector("#chart-adoption canvas", { timeout: 20000 });
  report.charts = await page.$$eval("#chart-adoption canvas, #chart-success *, #chart-failures *", (els) => els.length);
  await page.screenshot({ path: shot, fullPage: true });
  step("charts rendered");

  // The rollout slider: 25%, applied.
  await page.goto(`${base}/ui/#/apps/${app}/channels`);
  const card = `[data-channel="production"]`;
  await page.waitForSelector(`${card} .rollout-percent`, { timeout: 10000 });
  report.percentBefore = (await page.textContent(`${card} .rollout-percent`)).trim();
  await page.$eval("#rollout-slider-production", (el) => {
    el.value = "25";
    el.dispatchEvent(new Event("input", { bubbles: true }));
    el.dispatchEvent(new Event("change", { bubbles: true }));
  });
  await page.click("#rollout-apply-production");
  await page.waitForFunction(
    (sel) => document.querySelector(sel)?.textContent.trim() === "25%",
    `${card} .rollout-percent`,
    { timeout: 10000 },
  );
  report.percentAfter = (await page.textContent(`${card} .rollout-percent`)).trim();
  step("slider moved");

  // The card's "At" filled: Pause and Promote store their changes for
  // tomorrow instead of acting, and say so on their buttons.
  const at = "#quick-at-production";
  const tomorrow = await page.evaluate(() => {
    const d = new Date(Date.now() + 86400000);
    d.setHours(9, 0, 0, 0);
    const p = (n) => String(n).padStart(2, "0");
    return { value: `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T09:00`, ms: d.getTime() };
  });
  report.scheduledAt = tomorrow.ms;
  await page.fill(at, tomorrow.value);
  report.laterLabel = (await page.textContent("#rollout-pause-production")).trim();
  await page.click("#rollout-pause-production");
  await page.waitForSelector("#schedules-table [data-schedule]", { timeout: 10000 });
  await page.fill(at, tomorrow.value);
  await page.click("#rollout-promote-production");
  await page.waitForSelector("#confirm-yes", { timeout: 5000 });
  await page.click("#confirm-yes");
  await page.waitForFunction(() => document.querySelectorAll("#schedules-table [data-schedule]").length === 2, null, { timeout: 10000 });
  report.percentAfterSchedule = (await page.textContent(`${card} .rollout-percent`)).trim();
  report.pausedAfterSchedule = await page.$eval(card, (el) => [...el.querySelectorAll(".badge")].some((b) => b.textContent === "paused"));
  step("scheduled");

  // Roll back: a confirmation first; cancelling changes nothing.
  await page.click("#channel-rollback-production");
  await page.waitForSelector("#confirm-no", { timeout: 5000 });
  await page.click("#confirm-no");
  report.afterCancel = (await page.textContent(`${card} .rollout-percent`))?.trim();
  await page.click("#channel-rollback-production");
  await page.waitForSelector("#confirm-yes", { timeout: 5000 });
  await page.click("#confirm-yes");
  await page.waitForFunction((sel) => !document.querySelector(sel), `${card} .rollout-percent`, { timeout: 10000 });
  report.bundleAfterRollback = (await page.textContent(`${card} .channel-bundle`)).trim();
  step("rolled back");

  // A token made on the tokens page: its secret shown once.
  await page.goto(`${base}/ui/#/tokens`);
  await page.waitForSelector("#token-form", { timeout: 10000 });
  await page.fill("#token-name", "made-in-the-browser");
  await page.selectOption("#token-role", "read");
  await page.click("#token-create");
  await page.waitForSelector("#token-secret:not(:empty)", { timeout: 10000 });
  report.tokenSecret = (await page.textContent("#token-secret")).trim();
  step("token made");

  // The app's policy: expose metadata, confirmed.
  await page.goto(`${base}/ui/#/apps/${app}/settings`);
  await page.waitForSelector("#policy-expose-metadata", { timeout: 10000 });
  await page.check("#policy-expose-metadata");
  await page.click("#policy-save");
  await page.waitForSelector("#confirm-yes", { timeout: 5000 });
  await page.click("#confirm-yes");
  await page.waitForFunction(() => !document.querySelector("#confirm-yes"), null, { timeout: 5000 }).catch(() => {});
  step("policy saved");

  // Keyboard: the rollback button is reachable and Enter opens the
  // confirmation; Escape cancels it.
  await page.goto(`${base}/ui/#/apps/${app}/channels`);
  await page.waitForSelector(`#channel-rollback-production`, { timeout: 10000 });
  await page.focus("#channel-rollback-production");
  await page.keyboard.press("Enter");
  await page.waitForSelector("#confirm-no", { timeout: 5000 });
  await page.keyboard.press("Escape");
  await page.waitForSelector("#confirm-no", { state: "detached", timeout: 5000 }).catch(() =>
    page.waitForSelector("#confirm-no", { state: "hidden", timeout: 1000 }));
  report.keyboard = true;
  step("keyboard");

  // A phone: the same view, no sideways scrolling, the channel visible.
  await page.setViewportSize({ width: 390, height: 844 });
  await page.goto(`${base}/ui/#/apps/${app}/channels`);
  await page.waitForSelector(card, { timeout: 10000 });
  report.phoneOverflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  report.phoneCardVisible = await page.isVisible(card);
  step("phone");

  report.consoleErrors = consoleErrors;
} catch (e) {
  report.error = String(e && e.stack ? e.stack : e);
} finally {
  await browser.close();
}
process.stdout.write(JSON.stringify(report) + "\n");
process.exit(report.error ? 1 : 0);
