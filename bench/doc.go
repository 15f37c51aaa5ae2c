// Command bench is Aloft's whole-system load harness (issue 4): it builds
// the aloft binary, starts `aloft dev` as a child process on loopback, drives
// it with a simulated fleet of Capgo devices (plugin lines 5.x–8.x) and
// measures, in the same run, the baselines every figure is divided by: a
// bare fasthttp server (bench/bare) answering a fixed, pre-encoded update
// response and serving the bundle from memory, and nginx serving the same
// file from disk with sendfile.
//
// Scenarios (select with -scenarios):
//
//	checkins     steady update checks, 95% of the fleet up to date
//	downloads    the 5 MB bundle from the edge's memory vs bare vs nginx
//	release      a bundle published mid-run, with full zips, then with deltas
//	stats        a flood of stats events beside check-ins
//	propagation  time from a publish/rollback ack until every edge answers it
//	cluster      a 3-node origin on versitygw vs single nodes: publish latency,
//	             catalog writes/s, the write gap after kill -9 of the leader,
//	             origin RSS around a 200 MB bundle (its own origins; no aloft dev)
//
// Load is open-loop: request i is due at start+i/rate, and its latency is
// measured from that intended time, so a slow server cannot hide its
// slowness by slowing the generator down (coordinated omission). Peak
// capacity runs are closed-loop on purpose: they measure how many answers a
// fixed number of connections can get, not latency.
//
// The report (Markdown, JSON with every number, PNG plots) goes to -out,
// default bench/out/<timestamp>. `make bench` runs `go run ./bench -quick`,
// which finishes in under five minutes on 2 cores.
package main
