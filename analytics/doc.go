// Package analytics is an origin node's store of device stats and the
// derivation of operator reports from it.
//
// Stats stay off the raft log: every origin node keeps the batches edges
// sent it in a node-local bbolt file (Store), counted once per batch id.
// A query is answered by every node from its own file (Store.Partial);
// the caller adds the partials (api.MergePartials) and only then turns
// the sum into rates, shares and percentiles (Report), because those do
// not add. Per-device timelines merge the same way (MergeTimelines).
//
// The package knows neither raft nor the origin: origin imports it, it
// imports only the wire types (origin/api) and the device vocabulary
// (capgo). DESIGN.md describes the key layout and what can over-count.
package analytics
