// Package interop proves that Aloft interoperates with the real Capgo
// tooling rather than with our reading of it. Its tests drive the published
// @capgo/cli from npm (pinned in node/package.json, installed by
// scripts/deps.d/10-capgo-cli.sh through `make deps`) in a throwaway
// Capacitor project, and check its output against Aloft's operator API and
// device endpoints and against package bundle
// (../shared/reference/capgo-protocol.md §4, §6.4 "Cross-check recipes").
//
// Capgo's Electron client, @capgo/electron-updater (pinned beside the CLI,
// installed by scripts/deps.d/15-electron-updater.sh), runs unmodified in
// node/electron-app.cjs, a minimal Electron main process under plain Node
// whose `electron` module is the stand-in node/electron-stub; the test
// checks what it downloads, verifies and stores, and what Aloft records.
//
// Without these packages the tests fail and name `make deps`;
// ALOFT_SKIP_EXTERNAL=1 turns that failure into a skip for quick local
// loops. Every Node run is hermetic: telemetry is disabled and
// node/offline.cjs refuses non-loopback fetches (the CLI's "is there a
// newer @capgo/cli" check).
//
// The package holds no Go code besides its tests.
package interop
