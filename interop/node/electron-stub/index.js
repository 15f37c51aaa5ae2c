// A stand-in for the `electron` module, enough for @capgo/electron-updater's
// main-process code to run under plain Node in the interop tests. It gives
// what the updater touches on its update, download, stats and channel paths:
// app.getPath("userData"), app.getVersion(), app.isPackaged, app.on and
// safeStorage (reported unavailable, so the device id is stored in clear).
// The window-, menu- and IPC-related members (debug menu, IPC handlers) are
// not used there; reaching one throws, so a test never passes by silently
// skipping real client code.
//
// The test sets ALOFT_ELECTRON_USER_DATA (the app's userData directory, which
// keeps the updater's state across runs, as a real install does) and
// ALOFT_ELECTRON_APP_VERSION (the native app version, package.json's
// "version" in a real app).
'use strict';

function need(name) {
  const v = process.env[name];
  if (!v) throw new Error(`electron stand-in: ${name} is not set`);
  return v;
}

const app = {
  getPath(name) {
    if (name !== 'userData') throw new Error(`electron stand-in: app.getPath(${JSON.stringify(name)}) is not provided`);
    return need('ALOFT_ELECTRON_USER_DATA');
  },
  getVersion() {
    return need('ALOFT_ELECTRON_APP_VERSION');
  },
  // A packaged production build: the updater sends it as is_prod.
  isPackaged: true,
  // before-quit never comes: each run is one short launch.
  on() { return app; },
};

const safeStorage = {
  isEncryptionAvailable() { return false; },
};

const exported = { app, safeStorage };
for (const name of ['BrowserWindow', 'Menu', 'MenuItem', 'dialog', 'globalShortcut', 'ipcMain', 'ipcRenderer', 'contextBridge']) {
  Object.defineProperty(exported, name, {
    enumerable: true,
    get() { throw new Error(`electron stand-in: electron.${name} is not provided`); },
  });
}
module.exports = exported;
