// The catalog feed: how catalog states travel from origins to edges (and
// from edge to edge). A state is a set of records (an app's metadata, one
// channel, one bundle that a channel can serve, one device override), each
// carried as the exact JSON bytes the origin encoded. The state's root
// digest covers every record's bytes, and the origin signs (index, root,
// expiry) with SignState; a receiver applies a snapshot or a delta to the
// records it holds, recomputes the root and installs the result only when
// it equals the signed one. Whoever relayed the bytes, a wrong, missing or
// extra record cannot pass.
//
// Deltas name only what changed, so a channel moved to a bundle the edge
// already holds costs one channel record, whatever the catalog's size.

package api

import (
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
)

// FeedProtocol is the version of the feed format below. 3: an app's
// digest covers its overrides by bucket (BucketKey, BucketDigest).
const FeedProtocol = 3

// Record kinds.
const (
	KindApp      = "a" // the app's own fields (AppMeta)
	KindChannel  = "c" // one channel (Channel), named by channel name
	KindBundle   = "b" // one servable bundle (Bundle), named by version
	KindOverride = "o" // one device override (Override), named by device id
)

// Feed is one answer of the sync feed: a snapshot (From == 0: the records
// are the whole state) or a delta from From (the records changed since
// From; a record with no Body is deleted). State is the signed head
// (SignState) the result must match; its body is the 32-byte root.
type Feed struct {
	Protocol int      `json:"protocol"`
	From     uint64   `json:"from"`
	State    []byte   `json:"state"`
	Records  []Record `json:"records"`
}

// Record is one keyed piece of the catalog.
type Record struct {
	App  string `json:"a"`
	Kind string `json:"k"`
	Name string `json:"n,omitempty"`
	// Body is the record's JSON; absent in a delta means deleted.
	Body json.RawMessage `json:"b,omitempty"`
}

// RecordKey identifies a record within its app.
type RecordKey struct {
	Kind string
	Name string
}

// AppMeta is the KindApp record: the app's fields other than its
// channels, bundles and overrides, which are records of their own.
type AppMeta struct {
	ID            string `json:"app_id"`
	Name          string `json:"name"`
	Created       int64  `json:"created_ms"`
	NextChannelID int64  `json:"next_channel_id"`
	// Versions names every bundle of the app, sorted, servable or not:
	// edges count stats of devices on any of them under its own name.
	Versions []string `json:"versions,omitempty"`
	// ExposeMetadata is AppPolicy's: whether devices get link and comment.
	ExposeMetadata bool `json:"expose_metadata,omitempty"`
	// Previews are the app's live preview links (preview.go).
	Previews []PreviewGrant `json:"previews,omitempty"`
}

// ErrFeedFormat is a feed record that cannot be part of any state.
var ErrFeedFormat = errors.New("api: malformed feed record")

// CheckRecord refuses a record with an unknown kind or a missing name.
func CheckRecord(r Record) error {
	switch {
	case r.App == "":
		return fmt.Errorf("%w: no app", ErrFeedFormat)
	case r.Kind == KindApp && r.Name != "":
		return fmt.Errorf("%w: an app record has no name", ErrFeedFormat)
	case r.Kind == KindApp:
	case r.Kind != KindChannel && r.Kind != KindBundle && r.Kind != KindOverride:
		return fmt.Errorf("%w: kind %q", ErrFeedFormat, r.Kind)
	case r.Name == "":
		return fmt.Errorf("%w: a %q record needs a name", ErrFeedFormat, r.Kind)
	}
	return nil
}

// RecordDigest is the digest of one record's body.
func RecordDigest(body []byte) [32]byte { return sha256.Sum256(body) }

// AppDigest combines an app's record digests, in key order, so any
// holder of the same records computes the same digest. Override records
// are not among them: each non-empty bucket of them is, under BucketKey,
// with its BucketDigest.
func AppDigest(records map[RecordKey][32]byte) [32]byte {
	keys := make([]RecordKey, 0, len(records))
	for k := range records {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].Kind != keys[j].Kind {
			return keys[i].Kind < keys[j].Kind
		}
		return keys[i].Name < keys[j].Name
	})
	h := sha256.New()
	for _, k := range keys {
		d := records[k]
		h.Write([]byte(k.Kind))
		h.Write([]byte{0})
		h.Write([]byte(k.Name))
		h.Write([]byte{0})
		h.Write(d[:])
	}
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// BucketDigest combines the record digests of one override bucket (by
// device id) as AppDigest would combine them as override records; the
// app digest then holds it under BucketKey.
func BucketDigest(records map[string][32]byte) [32]byte {
	keyed := make(map[RecordKey][32]byte, len(records))
	for name, d := range records {
		keyed[RecordKey{Kind: KindOverride, Name: name}] = d
	}
	return AppDigest(keyed)
}

// RootDigest combines the app digests, in app id order. The empty state
// has a root too (the digest of nothing), so an empty catalog is signed
// like any other.
func RootDigest(apps map[string][32]byte) [32]byte {
	ids := make([]string, 0, len(apps))
	for id := range apps {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	h := sha256.New()
	for _, id := range ids {
		d := apps[id]
		h.Write([]byte(id))
		h.Write([]byte{0})
		h.Write(d[:])
	}
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// Servable lists the versions an app's channels can send to devices (their
// bundles and rollout bundles), and each channel's previous bundle, which
// devices that were answered just before the channel moved are still
// downloading (and which a rollback brings back): the only bundles the
// feed carries, so an edge's memory follows what can be served, not every
// bundle ever published.
func Servable(channels map[string]*Channel) map[string]bool {
	out := make(map[string]bool, 2*len(channels))
	add := func(v string) {
		if v != "" && v != BuiltinVersion {
			out[v] = true
		}
	}
	for _, ch := range channels {
		add(ch.Bundle)
		if r := ch.Rollout; r != nil {
			add(r.Bundle)
		}
		if len(ch.History) > 0 {
			add(ch.History[len(ch.History)-1])
		}
	}
	return out
}

// SigningKey is one public catalog key as the origin lists it. A key
// after the first carries an endorsement: the previous key's signature
// over EndorsementMessage, so an edge that trusts the old key can learn
// the new one without being told by hand (TUF's root rotation).
type SigningKey struct {
	ID        string `json:"id"`
	Public    []byte `json:"public"`
	Active    bool   `json:"active"`
	Endorser  string `json:"endorser,omitempty"`
	Signature []byte `json:"signature,omitempty"`
	Created   int64  `json:"created_ms"`
}

// EndorsementMessage is what a previous key signs to vouch for a new one.
func EndorsementMessage(id string, pub []byte) []byte {
	return append([]byte("aloft catalog key v1\x00"+id+"\x00"), pub...)
}

// EdgeStatus is what the origin knows of one edge from its sync requests.
type EdgeStatus struct {
	Name      string `json:"name"`
	Region    string `json:"region,omitempty"`
	PublicURL string `json:"public_url,omitempty"`
	// Index is the catalog index the edge serves.
	Index uint64 `json:"index"`
	// Lag is how many catalog indexes behind the origin's current one the
	// edge is (0 when it serves the newest).
	Lag uint64 `json:"lag"`
	// LastSeen is when an origin node last heard from the edge.
	LastSeen int64 `json:"last_seen_ms"`
	// Live is false for an edge not heard from within the liveness window.
	Live bool `json:"live"`
	// Via is the origin node the edge syncs from.
	Via string `json:"via,omitempty"`
	// Addr is the IP devices reach the edge at, its DNS record, when it
	// announces one (aloft edge --advertise-addr): aloft geodns --origin
	// discovers edges by it.
	Addr string `json:"addr,omitempty"`
	// ReadyURL is the edge's /readyz on the edges' own network (its peer
	// URL), announced with Addr, where geodns probes it.
	ReadyURL string `json:"ready_url,omitempty"`
}

// FeedRequest is what an edge asks the feed for.
type FeedRequest struct {
	// After is the index of the state the edge holds (0: none, send a
	// snapshot).
	After uint64
	// Expires is the expiry (Unix ms) of the signature the edge holds: a
	// re-signed state of the same index is sent when the origin's is later.
	Expires int64
	// Wait asks the feed to hold the request until there is something
	// new (a long-poll); without it the feed answers at once.
	Wait bool
	// Edge reports who asks and what it serves (GET /api/v1/edges).
	Edge EdgeStatus
}
