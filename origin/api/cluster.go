// Wire types of cluster membership: joining, status and removal.

package api

import (
	"context"
	"net/url"
)

// JoinRequest asks the cluster to add a node as a voter.
type JoinRequest struct {
	// NodeID is the joining node's raft id.
	NodeID string `json:"node_id"`
	// RaftAddr is the address the other nodes' raft dials (host:port).
	RaftAddr string `json:"raft_addr"`
	// APIURL is the node's operator API base URL, used to forward writes
	// to it when it leads and to ask it for its status.
	APIURL string `json:"api_url"`
}

// NodeStatus is one node's view of itself.
type NodeStatus struct {
	NodeID   string `json:"node_id"`
	RaftAddr string `json:"raft_addr,omitempty"`
	APIURL   string `json:"api_url,omitempty"`
	// State is raft's: Leader, Follower, Candidate or Shutdown; empty when
	// the node did not answer.
	State string `json:"state,omitempty"`
	// Voter is false for a non-voting member.
	Voter bool `json:"voter"`
	// AppliedIndex is the last raft index the node's state machine holds.
	AppliedIndex uint64 `json:"applied_index"`
	// CommitIndex is the last index the node knows to be committed.
	CommitIndex uint64 `json:"commit_index"`
	// LastContactMS is how long ago a follower last heard from the leader
	// (0 on the leader; -1 when never).
	LastContactMS int64 `json:"last_contact_ms"`
	// LeaderID is who the node thinks leads.
	LeaderID string `json:"leader_id,omitempty"`
	// Error says why the node's own status is missing.
	Error string `json:"error,omitempty"`
}

// ClusterStatus is the cluster as the answering node sees it, with each
// member's own report.
type ClusterStatus struct {
	LeaderID string       `json:"leader_id"`
	Nodes    []NodeStatus `json:"nodes"`
}

// Cluster paths.
const (
	PathCluster     = Prefix + "/cluster"
	PathClusterSelf = Prefix + "/cluster/self"
	PathClusterJoin = Prefix + "/cluster/join"
)

// HeaderForwarded marks a request a follower forwarded to the leader, so
// a node that is not the leader (any more) answers not_leader instead of
// forwarding it on in a loop.
const HeaderForwarded = "X-Aloft-Forwarded-By"

// CodeNoLeader is the error code while the cluster has no leader.
const CodeNoLeader = "no_leader"

// Join asks the node at the client's base to add the node req describes.
func (c *Client) Join(ctx context.Context, req JoinRequest) error {
	return c.Do(ctx, "POST", PathClusterJoin, req, "", nil)
}

// ClusterStatus returns the cluster's members and their state.
func (c *Client) ClusterStatus(ctx context.Context) (ClusterStatus, error) {
	var out ClusterStatus
	err := c.Do(ctx, "GET", PathCluster, nil, "", &out)
	return out, err
}

// NodeSelf returns the answering node's own status.
func (c *Client) NodeSelf(ctx context.Context) (NodeStatus, error) {
	var out NodeStatus
	err := c.Do(ctx, "GET", PathClusterSelf, nil, "", &out)
	return out, err
}

// RemoveNode removes a member from the cluster.
func (c *Client) RemoveNode(ctx context.Context, id string) error {
	return c.Do(ctx, "DELETE", PathCluster+"/nodes/"+url.PathEscape(id), nil, "", nil)
}
