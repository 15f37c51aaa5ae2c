package gossip

import (
	"errors"
	"strings"
	"testing"

	"github.com/hashicorp/memberlist"
)

func TestMetaRoundTrip(t *testing.T) {
	for _, m := range []Meta{
		{},
		{Region: "eu-west", PublicURL: "https://eu.updates.example", PeerURL: "http://10.0.0.7:8081", Index: 1<<63 + 5},
	} {
		got, err := decodeMeta(encodeMeta(m))
		if err != nil || got != m {
			t.Fatalf("round trip of %+v = %+v, %v", m, got, err)
		}
	}
	// A later version may append fields: they are ignored.
	m := Meta{Region: "us", Index: 9}
	if got, err := decodeMeta(append(encodeMeta(m), 1, 2, 3)); err != nil || got != m {
		t.Fatalf("with trailing bytes: %+v, %v", got, err)
	}
	enc := encodeMeta(Meta{Region: "ap", PublicURL: "https://x", PeerURL: "http://y", Index: 300})
	for i := range len(enc) {
		if _, err := decodeMeta(enc[:i]); err == nil {
			t.Fatalf("truncated to %d bytes decoded without error", i)
		}
	}
	if _, err := decodeMeta(append([]byte{metaVersion + 1}, enc[1:]...)); err == nil {
		t.Fatal("unknown version decoded")
	}
}

// TestMetaSizeLimit checks the 512-byte limit to the byte, counting the
// Index at its widest.
func TestMetaSizeLimit(t *testing.T) {
	if MetaMaxSize != memberlist.MetaMaxSize {
		t.Fatalf("MetaMaxSize = %d, memberlist's is %d", MetaMaxSize, memberlist.MetaMaxSize)
	}
	fixed := len(encodeMeta(Meta{Index: 1<<64 - 1})) // version, index, three empty lengths
	// PeerURL's length takes 2 varint bytes once above 127.
	fits := Meta{PeerURL: strings.Repeat("p", MetaMaxSize-fixed-1)}
	if err := checkMetaSize(fits); err != nil {
		t.Fatalf("%d-byte PeerURL should fit: %v", len(fits.PeerURL), err)
	}
	over := Meta{PeerURL: fits.PeerURL + "p"}
	err := checkMetaSize(over)
	if !errors.Is(err, ErrMetaTooLarge) || !strings.Contains(err.Error(), "limit 512") {
		t.Fatalf("checkMetaSize(513 bytes) = %v, want ErrMetaTooLarge naming the limit", err)
	}

	c := testConfig("big")
	c.Meta = over
	if _, err := New(c); !errors.Is(err, ErrMetaTooLarge) {
		t.Fatalf("New with oversized meta = %v, want ErrMetaTooLarge", err)
	}
	c.Meta = fits
	n := start(t, c)
	n.Announce(1<<64-1, digest(1)) // the widest Index still fits
	if got := n.Local().Meta.Index; got != 1<<64-1 {
		t.Fatalf("Index = %d", got)
	}
}

func TestAnnouncementWireRoundTrip(t *testing.T) {
	a := wireAnnouncement{origin: "edge-eu-1", index: 1234567, digest: digest(7)}
	for _, kind := range []byte{kindAnnounce, kindState} {
		k, got, err := decodeAnnouncement(a.encode(kind))
		if err != nil || k != kind || got != a {
			t.Fatalf("round trip kind %d: %d %+v %v", kind, k, got, err)
		}
	}
	enc := a.encode(kindAnnounce)
	for i := range len(enc) {
		if _, _, err := decodeAnnouncement(enc[:i]); err == nil {
			t.Fatalf("truncated to %d bytes decoded without error", i)
		}
	}
	if _, _, err := decodeAnnouncement(wireAnnouncement{origin: "x"}.encode(kindAnnounce)); err == nil {
		t.Fatal("index 0 decoded")
	}
	if _, _, err := decodeAnnouncement(wireAnnouncement{index: 1}.encode(kindAnnounce)); err == nil {
		t.Fatal("empty origin decoded")
	}
}
