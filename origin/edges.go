// What the origin knows of the edges: each sync request reports the
// edge's name, region, public URL and served index (placeholder until
// GET /api/v1/edges lands).

package origin

import (
	"time"

	"github.com/aloft/aloft/origin/api"
)

// edgeRegistry remembers the edges that sync from this node.
type edgeRegistry struct{}

func newEdgeRegistry() *edgeRegistry { return &edgeRegistry{} }

// seen records one sync request of an edge at time now.
func (r *edgeRegistry) seen(st api.EdgeStatus, now time.Time) {}
