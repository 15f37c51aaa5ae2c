// Package origin is Aloft's authoritative store: a raft node (hashicorp/raft
// with raft-boltdb) whose pure FSM holds the catalog (apps, bundles,
// channels, rollouts, device overrides), API tokens, stats aggregates and
// a hash-chained audit log, a content-addressed blob store for bundle
// bytes, and the operator HTTP API under /api/v1 (docs/api.md).
//
// Writes are acknowledged only after their raft commit and carry an
// idempotency key the FSM deduplicates. Published catalogs are immutable
// and are handed to edges as they are (in process) or as JSON (sync API).
package origin
