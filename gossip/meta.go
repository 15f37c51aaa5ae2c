// Node metadata: what a member tells the others about itself in every
// alive message, encoded compactly because memberlist caps it at 512
// bytes (memberlist.MetaMaxSize) and sends it often.

package gossip

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// MetaMaxSize is the largest encoded Meta memberlist carries (its
// MetaMaxSize; a test keeps the two equal).
const MetaMaxSize = 512

// ErrMetaTooLarge is returned (wrapped, with the sizes) by Validate and
// New when a Meta would not fit in MetaMaxSize bytes at any Index.
var ErrMetaTooLarge = errors.New("gossip: node metadata too large")

// Meta is what an edge publishes about itself to the cluster.
type Meta struct {
	// Region names the edge's region; the peer-fill ring is built over
	// the members of one region.
	Region string
	// PublicURL is the base URL devices reach this edge at.
	PublicURL string
	// PeerURL is the edge's internal HTTP address for peer fill.
	PeerURL string
	// Index is the catalog index the edge serves. Announce raises it.
	Index uint64
}

// metaVersion leads every encoding. Fields may be appended in a later
// version; a decoder ignores bytes it does not know, so old and new edges
// can share a cluster during a rolling upgrade.
const metaVersion = 1

// encodeMeta lays out: version, uvarint Index, then Region, PublicURL and
// PeerURL each as uvarint length and bytes.
func encodeMeta(m Meta) []byte {
	b := make([]byte, 0, 1+binary.MaxVarintLen64+3*binary.MaxVarintLen16+len(m.Region)+len(m.PublicURL)+len(m.PeerURL))
	b = append(b, metaVersion)
	b = binary.AppendUvarint(b, m.Index)
	for _, s := range []string{m.Region, m.PublicURL, m.PeerURL} {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	return b
}

// checkMetaSize refuses a Meta whose encoding could outgrow the limit
// once Announce raises its Index: sizing it at the largest Index now means
// Announce can never fail for size.
func checkMetaSize(m Meta) error {
	m.Index = math.MaxUint64
	if n := len(encodeMeta(m)); n > MetaMaxSize {
		return fmt.Errorf("%w: %d bytes encoded (Region, PublicURL and PeerURL are %d, %d and %d), limit %d",
			ErrMetaTooLarge, n, len(m.Region), len(m.PublicURL), len(m.PeerURL), MetaMaxSize)
	}
	return nil
}

// errBadMeta reports metadata this version cannot read.
var errBadMeta = errors.New("gossip: malformed node metadata")

// decodeMeta reads encodeMeta's layout.
func decodeMeta(b []byte) (Meta, error) {
	if len(b) == 0 || b[0] != metaVersion {
		return Meta{}, errBadMeta
	}
	b = b[1:]
	var m Meta
	var n int
	if m.Index, n = binary.Uvarint(b); n <= 0 {
		return Meta{}, errBadMeta
	}
	b = b[n:]
	for _, s := range []*string{&m.Region, &m.PublicURL, &m.PeerURL} {
		l, n := binary.Uvarint(b)
		if n <= 0 || l > uint64(len(b)-n) {
			return Meta{}, errBadMeta
		}
		*s = string(b[n : n+int(l)])
		b = b[n+int(l):]
	}
	return m, nil
}
