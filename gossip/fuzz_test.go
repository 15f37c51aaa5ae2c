package gossip

import (
	"bytes"
	"testing"
)

// FuzzDecodeMessages: any packet a member (or anyone reaching the port
// of an insecure cluster) sends is decoded without panicking, and what
// decodes re-encodes to a message that decodes the same.
func FuzzDecodeMessages(f *testing.F) {
	f.Add(wireAnnouncement{origin: "e1", index: 7}.encode(kindAnnounce))
	f.Add(encodeMeta(Meta{Region: "eu", PublicURL: "https://a", PeerURL: "http://b", Index: 9}))
	f.Add(encodeDirect("e2", []byte("payload")))
	f.Add([]byte{kindState, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		if kind, a, err := decodeAnnouncement(b); err == nil {
			k2, a2, err := decodeAnnouncement(a.encode(kind))
			if err != nil || k2 != kind || a2 != a {
				t.Fatalf("announcement %+v does not round-trip: %+v %v", a, a2, err)
			}
		}
		if m, err := decodeMeta(b); err == nil {
			if m2, err := decodeMeta(encodeMeta(m)); err != nil || m2 != m {
				t.Fatalf("meta %+v does not round-trip: %+v %v", m, m2, err)
			}
		}
		if len(b) > 0 {
			if from, msg, err := decodeDirect(b[1:]); err == nil {
				f2, m2, err := decodeDirect(encodeDirect(from, msg)[1:])
				if err != nil || f2 != from || !bytes.Equal(m2, msg) || len(from) == 0 || len(from) > MaxNameLen {
					t.Fatalf("direct message from %q does not round-trip: %q %v", from, f2, err)
				}
			}
		}
	})
}
