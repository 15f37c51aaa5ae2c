// Package capgo speaks the device side of the Capgo live-update wire
// protocol (../shared/reference/capgo-protocol.md): it decodes and
// normalises the "info object" that every plugin line from 5.x to 8.x sends,
// and Capgo's Electron client too, knows which plugin versions understand
// which response features, and encodes update-check answers in the exact
// shapes the plugins accept.
//
// The version gates follow Capgo's backend: it gates only the majors 5 to 8
// and refuses 4, so every other major (the Electron client's "0.0.1", the
// deprecated 9.x and 10.x, a missing or unparsable plugin_version) gets the
// newest plugin's features. A native version_build is coerced as Capgo's
// fixSemver does ("1" is "1.0.0") wherever Capgo uses it. The rules, and
// where Aloft answers differently from Capgo, are in docs/conformance.md.
//
// It is pure code: no I/O, no clock, no globals beyond sentinel errors. The
// edge uses it on the hot path and the bench harness uses it to build
// realistic request bodies.
package capgo
