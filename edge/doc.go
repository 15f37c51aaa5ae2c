// Package edge is Aloft's device-facing node: it answers the Capgo plugin's
// update checks, stats and channel_self requests over fasthttp from an
// in-memory replica of the catalog, and serves bundle zips and delta files
// at content-addressed URLs from a byte cache filled from the origin.
//
// The edge does no disk or network I/O on the update-check path. It learns
// about catalog changes from its Origin (long-poll by catalog index) and
// never installs a catalog older than the one it holds. It does not link
// raft: it talks to the origin only through the Origin interface, whose
// types come from the leaf package origin/api.
package edge
