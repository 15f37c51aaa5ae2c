// One launch of a minimal Electron app that ships the real, unmodified
// @capgo/electron-updater, for interop/electron_test.go. It runs under
// plain Node with electron-stub/ as its `electron` module and offline.cjs
// preloaded:
//
//   node --require ./offline.cjs electron-app.cjs <step> [channel]
//
// This file only plays the app around the updater: it starts the updater
// as the package README's main process does (initialize applies a bundle
// queued by an earlier launch), calls notifyAppReady as the app's web
// layer does on every launch, performs one step through the updater's
// public API, and prints what it saw as one JSON line on stdout. Steps:
//
//   check          getLatest(): the raw answer of POST /updates
//   update         checkForUpdates(): the updater's own auto-update pass
//                  (check, download and verify, queue as next)
//   launch         nothing more: a restart that applies the queued bundle
//   set-channel    setChannel({channel})
//   unset-channel  unsetChannel()
//
// ALOFT_ELECTRON_APP holds the app's configuration as JSON: appId,
// updateUrl, statsUrl, channelUrl and builtin (the directory of the web
// build shipped inside the app). The stand-in reads its own variables.
'use strict';
const crypto = require('crypto');
const fs = require('fs');
const path = require('path');
const { ElectronUpdater } = require('@capgo/electron-updater');

// The updater logs with console.log; those lines go to stderr (the test
// log), so that stdout carries only the report.
console.log = console.info = console.debug = console.error;

// The updater's events worth reporting ("download" is per-chunk progress).
const EVENTS = ['updateAvailable', 'noNeedUpdate', 'downloadComplete', 'downloadFailed', 'appReloaded',
  'appReady', 'updateFailed', 'breakingAvailable', 'majorAvailable'];

// A BrowserWindow as far as the updater uses one: it listens for focus and
// blur, and loads the current bundle's index.html.
function windowStandIn() {
  const loaded = [];
  return {
    loaded,
    on() { return this; },
    async loadFile(file) { loaded.push(file); },
    async loadURL(url) { loaded.push(url); },
  };
}

// hashTree maps each file under dir, by its slash-separated relative path,
// to the lowercase hex SHA-256 of its bytes.
function hashTree(dir) {
  const out = {};
  const walk = (rel) => {
    for (const e of fs.readdirSync(path.join(dir, rel), { withFileTypes: true })) {
      const name = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) walk(name);
      else out[name] = crypto.createHash('sha256').update(fs.readFileSync(path.join(dir, name))).digest('hex');
    }
  };
  walk('');
  return out;
}

async function main() {
  const [step, channel] = process.argv.slice(2);
  const cfg = JSON.parse(process.env.ALOFT_ELECTRON_APP || '{}');
  const updater = new ElectronUpdater({
    appId: cfg.appId, updateUrl: cfg.updateUrl, statsUrl: cfg.statsUrl, channelUrl: cfg.channelUrl,
  });
  const events = [];
  for (const name of EVENTS) {
    updater.addListener(name, (data) => {
      events.push({ name, version: (data && (data.version ?? (data.bundle && data.bundle.version))) || '' });
    });
  }
  const win = windowStandIn();
  await updater.initialize(win, path.join(cfg.builtin, 'index.html'));
  await updater.notifyAppReady();

  const out = { step, deviceId: (await updater.getDeviceId()).deviceId };
  switch (step) {
    case 'check':
      out.answer = await updater.getLatest();
      break;
    case 'update':
      await updater.checkForUpdates();
      out.next = await updater.getNextBundle();
      break;
    case 'launch':
      break;
    case 'set-channel':
      out.result = await updater.setChannel({ channel });
      break;
    case 'unset-channel':
      await updater.unsetChannel();
      break;
    default:
      throw new Error(`electron-app: unknown step ${JSON.stringify(step)}`);
  }
  const current = await updater.current();
  out.current = current.bundle;
  out.native = current.native;
  if (current.bundle.id !== 'builtin') out.files = hashTree(path.dirname(updater.getCurrentBundlePath()));
  out.events = events;
  out.loaded = win.loaded;
  process.stdout.write(JSON.stringify(out) + '\n');
}

main().catch((err) => {
  process.stderr.write(`electron-app: ${err && err.stack || err}\n`);
  process.exitCode = 1;
});
