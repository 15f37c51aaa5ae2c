// The edge listing (GET /api/v1/edges): which catalog index every edge
// serves, as the origin cluster heard it from their sync requests, and
// the client's side of it, including the index of the client's own last
// write (what `aloft … --wait` waits for).

package api

import (
	"context"
	"net/http"
)

// PathEdges lists the edges. With ?local=1 a node answers only the edges
// that sync from it (what a node asks the other members when it answers
// for the whole cluster).
const PathEdges = Prefix + "/edges"

// EdgeList is the answer of GET /api/v1/edges.
type EdgeList struct {
	// Index is the catalog index the answering origin holds (the highest
	// of the members that answered): the one each edge's Lag counts from.
	Index uint64 `json:"index"`
	// Now is the answering node's clock (Unix ms), so "last seen ago" is
	// measured on the clock that stamped LastSeen, not the reader's.
	Now int64 `json:"now_ms"`
	// Edges are sorted by name; an edge known to several members is
	// listed once, as the one that heard from it last saw it.
	Edges []EdgeStatus `json:"edges"`
	// Partial names the members that did not answer: the edges syncing
	// from them are missing from Edges. Empty when the list is whole.
	Partial []MemberError `json:"partial,omitempty"`
}

// MemberError is an origin member that could not be asked, and why.
type MemberError struct {
	NodeID string `json:"node_id"`
	APIURL string `json:"api_url,omitempty"`
	Error  string `json:"error"`
}

// Edges lists every edge the origin cluster knows, each member asked for
// its own.
func (c *Client) Edges(ctx context.Context) (EdgeList, error) {
	var out EdgeList
	return out, c.Do(ctx, http.MethodGet, PathEdges, nil, "", &out)
}

// LocalEdges lists only the edges that sync from the node the client
// talks to.
func (c *Client) LocalEdges(ctx context.Context) (EdgeList, error) {
	var out EdgeList
	return out, c.Do(ctx, http.MethodGet, PathEdges+"?local=1", nil, "", &out)
}

// LastIndex is the highest raft index an answer to this client named
// (HeaderIndex, which every write answer carries): after a write, an
// index at or after the write's own. Zero before any write.
func (c *Client) LastIndex() uint64 { return c.seen.Load() }
