// Package localcluster runs a whole Aloft cluster inside one process: 1, 3
// or 5 origin nodes (real raft over loopback TCP, or over in-memory
// transports a test can cut) and any number of edges (over HTTP to the
// origins as `aloft edge` runs, or calling one origin in process as
// `aloft dev` does), with real HTTP on kernel-chosen loopback ports and
// real memberlist gossip between the edges that ask for it.
//
// It owns the wiring of such a cluster and nothing else: every node is
// built with the constructors cmd/aloft uses (origin.New, Start, Run;
// edge.New, Run; edge.NewRemoteOrigin), so a test or a bench run exercises
// what production runs. It stops and restarts nodes on their own data and
// addresses (a restarted edge proves it serves from disk; a restarted
// origin keeps its raft identity), finds the leader, and waits for edges
// to catch up. Waiting goes through internal/wait, the codebase's one poll
// helper.
//
// It serves the edge tests in package edge_test (the origin package's
// own tests cannot import it: it imports origin) and bench/. It does not
// import package testing, so the bench, a program, can link it; tests
// call Close at cleanup themselves.
package localcluster
