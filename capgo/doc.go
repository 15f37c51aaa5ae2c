// Package capgo speaks the device side of the Capgo live-update wire
// protocol (../shared/reference/capgo-protocol.md): it decodes and
// normalises the "info object" that every plugin line from 5.x to 8.x sends,
// knows which plugin versions understand which response features, and
// encodes update-check answers in the exact shapes the plugins accept.
//
// It is pure code: no I/O, no clock, no globals beyond sentinel errors. The
// edge uses it on the hot path and the bench harness uses it to build
// realistic request bodies.
package capgo
