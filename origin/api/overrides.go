// Device overrides are kept apart from the catalog's apps: they grow with
// the number of pinned devices (a test group, or every old plugin that
// chose its own channel), while an app's channels and bundles do not. An
// app's overrides are split into OverrideBuckets buckets by device id;
// a change copies one bucket, and the signed state covers each bucket
// by one digest, so neither the origin nor an edge touches every pinned
// device when one of them, or one channel, changes.

package api

import (
	"encoding/json"
	"fmt"
	"iter"
	"maps"
)

// OverrideBuckets is how many buckets an app's overrides are split into.
// It is part of the feed format: the app digest covers one digest per
// non-empty bucket (BucketKey).
const OverrideBuckets = 256

// KindOverrideBucket names a bucket's digest within an app's digest. No
// record has this kind: it exists only inside AppDigest's input.
const KindOverrideBucket = "O"

// BucketOf is the bucket of device id dev (FNV-1a; the same on every
// origin and edge, and cheap enough for the update-check path).
func BucketOf(dev string) int {
	h := uint32(2166136261)
	for i := 0; i < len(dev); i++ {
		h ^= uint32(dev[i])
		h *= 16777619
	}
	return int(h % OverrideBuckets)
}

// BucketKey is bucket b's key within an app's digest.
func BucketKey(b int) RecordKey {
	return RecordKey{Kind: KindOverrideBucket, Name: fmt.Sprintf("%02x", b)}
}

// Overrides is one app's device overrides, by lower-case device id. An
// *Overrides is immutable: With returns a changed copy that shares every
// other bucket. The nil *Overrides is the empty table.
type Overrides struct {
	b [OverrideBuckets]*OverrideBucket
	n int
}

// OverrideBucket is one bucket of an app's overrides; immutable, and
// shared by every table that did not change it, so its identity tells
// a reader whether it changed.
type OverrideBucket struct {
	m map[string]*Override
}

// NewOverrides builds a table from a map by device id (nil values are
// skipped); nil when nothing is left.
func NewOverrides(m map[string]*Override) *Overrides {
	out := &Overrides{}
	for k, v := range m {
		if v == nil {
			continue
		}
		i := BucketOf(k)
		if out.b[i] == nil {
			out.b[i] = &OverrideBucket{m: map[string]*Override{}}
		}
		out.b[i].m[k] = v
		out.n++
	}
	if out.n == 0 {
		return nil
	}
	return out
}

// Get returns dev's override, or nil.
func (o *Overrides) Get(dev string) *Override {
	if o == nil {
		return nil
	}
	return o.b[BucketOf(dev)].Get(dev)
}

// Len is the number of overrides.
func (o *Overrides) Len() int {
	if o == nil {
		return 0
	}
	return o.n
}

// Bucket returns bucket i, or nil when it is empty.
func (o *Overrides) Bucket(i int) *OverrideBucket {
	if o == nil {
		return nil
	}
	return o.b[i]
}

// With returns the table with dev set to v (v nil: removed); a table
// with nothing left is nil.
func (o *Overrides) With(dev string, v *Override) *Overrides {
	i := BucketOf(dev)
	old := o.Bucket(i)
	_, had := old.lookup(dev)
	if v == nil && !had {
		return o
	}
	out := &Overrides{}
	if o != nil {
		*out = *o
	}
	nb := &OverrideBucket{m: map[string]*Override{}}
	if old != nil {
		nb.m = maps.Clone(old.m)
	}
	switch {
	case v == nil:
		delete(nb.m, dev)
		out.n--
	case !had:
		nb.m[dev] = v
		out.n++
	default:
		nb.m[dev] = v
	}
	out.b[i] = nb
	if len(nb.m) == 0 {
		out.b[i] = nil
	}
	if out.n == 0 {
		return nil
	}
	return out
}

// Without returns the table without the overrides drop reports true for,
// copying each bucket that loses one once.
func (o *Overrides) Without(drop func(dev string, v *Override) bool) *Overrides {
	if o == nil {
		return nil
	}
	out := *o
	changed := false
	for i, b := range o.b {
		var nb *OverrideBucket
		for k, v := range b.All() {
			if !drop(k, v) {
				continue
			}
			if nb == nil {
				nb = &OverrideBucket{m: maps.Clone(b.m)}
			}
			delete(nb.m, k)
			out.n--
		}
		if nb == nil {
			continue
		}
		changed = true
		out.b[i] = nb
		if len(nb.m) == 0 {
			out.b[i] = nil
		}
	}
	switch {
	case !changed:
		return o
	case out.n == 0:
		return nil
	}
	return &out
}

// All yields every override, bucket by bucket.
func (o *Overrides) All() iter.Seq2[string, *Override] {
	return func(yield func(string, *Override) bool) {
		if o == nil {
			return
		}
		for _, b := range o.b {
			for k, v := range b.All() {
				if !yield(k, v) {
					return
				}
			}
		}
	}
}

// MarshalJSON encodes the table as one object by device id.
func (o *Overrides) MarshalJSON() ([]byte, error) {
	m := make(map[string]*Override, o.Len())
	for k, v := range o.All() {
		m[k] = v
	}
	return json.Marshal(m)
}

// UnmarshalJSON reads what MarshalJSON wrote.
func (o *Overrides) UnmarshalJSON(b []byte) error {
	var m map[string]*Override
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	if t := NewOverrides(m); t != nil {
		*o = *t
	} else {
		*o = Overrides{}
	}
	return nil
}

// Get returns dev's override in this bucket, or nil.
func (b *OverrideBucket) Get(dev string) *Override {
	v, _ := b.lookup(dev)
	return v
}

func (b *OverrideBucket) lookup(dev string) (*Override, bool) {
	if b == nil {
		return nil, false
	}
	v, ok := b.m[dev]
	return v, ok
}

// Len is the bucket's number of overrides.
func (b *OverrideBucket) Len() int {
	if b == nil {
		return 0
	}
	return len(b.m)
}

// All yields the bucket's overrides.
func (b *OverrideBucket) All() iter.Seq2[string, *Override] {
	return func(yield func(string, *Override) bool) {
		if b == nil {
			return
		}
		for k, v := range b.m {
			if !yield(k, v) {
				return
			}
		}
	}
}
