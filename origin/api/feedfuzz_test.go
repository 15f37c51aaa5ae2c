package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// FuzzReadFeed: whatever an origin or a peer sends as a feed, the
// stream reader never panics, and every failure is ErrFeedStream (or
// the record limit), never a crash or a silently partial feed.
func FuzzReadFeed(f *testing.F) {
	f.Add([]byte(`{"protocol":2,"from":0,"state":"AAAA","records":[{"kind":"app","key":"a","body":{"id":"a"}}]}`))
	f.Add([]byte(`{"protocol":2,"from":5,"state":"x","records":[]}`))
	f.Add([]byte(`{"records":[{}],"state":""}`))
	f.Add([]byte(`{"protocol":2,"state":"x","records":[{"kind":"bundle","key":"a/1","body":{"version":"1"}}],"extra":[1,{"a":"\u0000"}]}`))
	f.Add([]byte(`{"protocol":2`))
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, err := ReadFeed(bytes.NewReader(b))
		if err != nil {
			if !errors.Is(err, ErrFeedStream) && !strings.Contains(err.Error(), "api:") {
				t.Fatalf("error outside the feed's class: %v", err)
			}
			return
		}
		for range 100000 {
			r, ok, err := fr.Next()
			if err != nil {
				if !errors.Is(err, ErrFeedStream) && !strings.Contains(err.Error(), "api:") {
					t.Fatalf("record error outside the feed's class: %v", err)
				}
				return
			}
			if !ok {
				return
			}
			if len(r.Body) > 0 && !json.Valid(r.Body) {
				t.Fatalf("a record body that is not JSON came through: %q", r.Body)
			}
		}
	})
}

// FuzzDecodeBundle: the fast bundle decoder agrees with encoding/json on
// every input (error or value), and claims "exact" exactly when the
// value encodes back to the input.
func FuzzDecodeBundle(f *testing.F) {
	f.Add([]byte(`{"version":"1.0.0","zip":"ab","zip_size":3,"checksum":"ab"}`))
	f.Add([]byte(`{"version":"1.0.0","manifest":[{"file_name":"a","file_hash":"b","size":1}]}`))
	f.Add([]byte(`{"version":"\ud800"}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, in []byte) { agreesWithEncodingJSON(t, in) })
}
