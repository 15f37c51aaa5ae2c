// Package geodns keeps a GeoDNS answer current with the edges' health: it
// probes every edge's /readyz, decides which edges each client region
// is sent to (its own region's ready edges, else the next nearest
// region's, in a configured order), and writes that as one zone file per
// region for CoreDNS, whose geoip plugin (with edns-subnet) places a
// client and whose view plugin picks the zone file.
//
// It is a sidecar of the DNS server, not part of it: CoreDNS stays an
// unmodified upstream binary, reloading the files this package replaces
// atomically, so a crash here leaves the last answer in service rather
// than no answer. The same Config renders the Corefile, so the views and
// the zone files cannot disagree.
//
// The edges come from the origin's GET /api/v1/edges (each edge reports
// the IP devices reach it at, aloft edge --advertise-addr, and its
// /readyz), from a list in the configuration, or both; the last list the
// origin gave stays while it cannot be asked, so an origin outage does
// not empty DNS. `aloft geodns` (cmd/aloft) runs a Node; deploy/cluster
// runs one beside CoreDNS for `make cluster`, finding its edges through
// the origin.
package geodns
