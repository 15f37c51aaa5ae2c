package origin

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/aloft/aloft/origin/api"
)

func snapshotBytes(t *testing.T, f *fsm) []byte {
	t.Helper()
	snap, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	sink := &memSink{}
	if err := snap.Persist(sink); err != nil {
		t.Fatal(err)
	}
	return sink.Bytes()
}

func restoreBytes(b []byte) (*fsm, error) {
	g := newFSM()
	return g, g.Restore(&memSink{Buffer: *bytes.NewBuffer(b)})
}

// TestSnapshot_Restore_EveryField: a state with every field of every
// object set comes back from a snapshot equal, field by field, so a field
// the snapshot types or their conversions forget fails here (the random
// property test only sets the fields its commands touch).
func TestSnapshot_Restore_EveryField(t *testing.T) {
	f := newFSM()
	full := filled[state]()
	full.cells = nil
	// An override table's buckets are unexported (the filler cannot reach
	// them): give every app a filled override, compared as JSON below.
	full.Catalog.Overrides = map[string]*api.Overrides{}
	for id := range full.Catalog.Apps {
		full.Catalog.Overrides[id] = api.NewOverrides(map[string]*api.Override{"dev-" + id: ptr(filled[api.Override]())})
	}
	f.s = &full
	g, err := restoreBytes(snapshotBytes(t, f))
	if err != nil {
		t.Fatal(err)
	}
	if diff := stateDiff(f.s, g.s); diff != "" {
		t.Fatal(diff)
	}
	want, _ := json.Marshal(f.s.Catalog.Overrides)
	got, _ := json.Marshal(g.s.Catalog.Overrides)
	if len(full.Catalog.Apps) == 0 || !bytes.Equal(want, got) {
		t.Fatalf("overrides: %s, want %s", got, want)
	}
}

// TestSnapshot_Restore_Versions: the snapshot names its format; restore
// takes format 1 (no field) and the current one, and refuses a newer one
// by name rather than restoring what it would half understand.
func TestSnapshot_Restore_Versions(t *testing.T) {
	var head struct {
		Format *int `json:"format"`
	}
	b := snapshotBytes(t, newFSM())
	if err := json.Unmarshal(b, &head); err != nil || head.Format == nil || *head.Format != snapshotVersion {
		t.Fatalf("snapshot does not carry format %d: %s", snapshotVersion, b)
	}
	for _, ok := range []string{`{"index":7}`, `{"format":1,"index":7}`, `{"format":2,"index":7}`} {
		g, err := restoreBytes([]byte(ok))
		if err != nil || g.s.Index != 7 || g.s.Catalog == nil || g.s.Tokens == nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	for _, bad := range []string{`{"format":3,"catalog":"a shape this build does not know"}`, `{"format":-1}`} {
		_, err := restoreBytes([]byte(bad))
		if !errors.Is(err, ErrSnapshotFormat) || !strings.Contains(err.Error(), "formats 1 to 2") {
			t.Errorf("%s: got %v, want ErrSnapshotFormat naming what this build reads", bad, err)
		}
	}
	if _, err := restoreBytes([]byte(`{"format":2,"catalog":{"apps":[]}}`)); err == nil || errors.Is(err, ErrSnapshotFormat) {
		t.Errorf("a malformed snapshot of a known format: got %v", err)
	}
}
