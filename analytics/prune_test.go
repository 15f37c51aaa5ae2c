// Retention tests: what Prune removes and keeps at each horizon, and the
// dedup contract around DedupWindow.

package analytics

import (
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/aloft/aloft/origin/api"
)

func TestPruneRetention(t *testing.T) {
	s := openStore(t, nil)
	ingestKnown(t, s)
	now := at(12, 30)
	queries := map[string]api.StatsQuery{}
	for _, r := range resolutions {
		queries[r.name] = api.StatsQuery{App: testApp, From: bucketStart(at(10, 0), r.width), To: at(13, 0) + r.width, Resolution: r.name}
	}
	has := func(res string) bool {
		p := partial(t, s, queries[res])
		return len(p.Totals) > 0 && len(p.Active) > 0 && len(p.Durations) > 0
	}
	// An hour on, nothing is past any retention.
	if n, err := s.Prune(tm(now + 3600)); err != nil || n != 0 {
		t.Fatalf("prune at +1h removed %d keys (%v), want 0", n, err)
	}
	if !has(api.ResolutionMinute) {
		t.Fatal("minute data gone after +1h")
	}
	n, err := s.Prune(tm(now + 49*3600))
	if err != nil || n == 0 {
		t.Fatalf("prune at +49h: %d keys, %v", n, err)
	}
	if has(api.ResolutionMinute) || len(partial(t, s, queries[api.ResolutionMinute]).Series) > 0 {
		t.Error("minute data kept past MinuteRetention")
	}
	if !has(api.ResolutionHour) || !has(api.ResolutionDay) {
		t.Error("hour or day data pruned with the minutes")
	}
	// The hour report is what it was before the prune.
	check(t, "hour report after minute prune", Report(partial(t, s, hourQuery()), nil).Failures.Total, int64(6))
	if _, err := s.Prune(tm(now + 36*24*3600)); err != nil {
		t.Fatal(err)
	}
	if has(api.ResolutionHour) || !has(api.ResolutionDay) {
		t.Error("after 36 days: want hours gone and days kept")
	}
	if _, err := s.Prune(tm(now + 402*24*3600)); err != nil {
		t.Fatal(err)
	}
	if has(api.ResolutionDay) {
		t.Error("day data kept past DayRetention")
	}
}

func TestPruneDevices(t *testing.T) {
	s := openStore(t, nil)
	ingestKnown(t, s)
	if _, ok, _ := s.Device(testApp, "d4"); !ok {
		t.Fatal("d4 unknown")
	}
	// d4 was last seen 12:23: kept until 90 days after.
	if _, err := s.Prune(tm(at(12, 23) + 90*86400 - 1)); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := s.Device(testApp, "d4"); !ok {
		t.Fatal("d4 pruned before DeviceRetention")
	}
	if _, err := s.Prune(tm(at(12, 23) + 90*86400)); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"d1", "d2", "d3", "d4"} {
		if _, ok, _ := s.Device(testApp, d); ok {
			t.Errorf("%s kept past DeviceRetention", d)
		}
	}
	// Nothing of them is left to prune: record, timeline and index went.
	if n, err := s.Prune(tm(at(12, 23) + 91*86400)); err != nil || n != 0 {
		t.Errorf("a later prune removed %d more keys (%v)", n, err)
	}
}

// The dedup contract: a batch id counts once within DedupWindow of its
// first receipt and again after it, whether or not Prune ran between.
func TestDedupWindow(t *testing.T) {
	s := openStore(t, func(c *Config) { c.DedupWindow = time.Hour })
	b := api.StatsBatch{ID: "w", Cells: []api.StatsCell{cell(10, 5, v1, "", "", "set", 1)}}
	t1 := at(10, 6)
	ingest(t, s, b, t1)
	if _, err := s.Prune(tm(t1 + 3600 - 1)); err != nil {
		t.Fatal(err)
	}
	if ingest(t, s, b, t1+3600-1) {
		t.Fatal("counted again within the window (after a prune)")
	}
	if !ingest(t, s, b, t1+3600) {
		t.Fatal("not counted again past the window without a prune")
	}
	t2 := t1 + 3600
	n, err := s.Prune(tm(t2 + 3600))
	if err != nil || n != 2 {
		t.Fatalf("prune past the window removed %d keys (%v), want the id and its time entry", n, err)
	}
	if !ingest(t, s, b, t2+3600) {
		t.Fatal("not counted again after the prune")
	}
	if n := setCount(t, s); n != 3 {
		t.Errorf("set = %d, want 3", n)
	}
}

// A prune larger than one transaction's chunk still removes everything,
// chunk after chunk (a chunk of 7 here, so 200 keys take 29).
func TestPruneChunks(t *testing.T) {
	s := openStore(t, nil)
	s.chunk = 7
	var cells []api.StatsCell
	for i := range 50 {
		cells = append(cells, cell(10, i%60, v1, "", "", "set", 1))
		cells[i].Channel = string(rune('a' + i%26))
		cells[i].Platform = string(rune('a' + i/26))
	}
	for i := range 4 {
		ingest(t, s, api.StatsBatch{ID: string(rune('A' + i)), Region: string(rune('A' + i)), Cells: cells}, at(10, 59))
	}
	if n := keyCount(t, s, resolutions[0].cells); n != 4*len(cells) {
		t.Fatalf("%d minute cells, want %d", n, 4*len(cells))
	}
	n, err := s.Prune(tm(at(10, 59) + 49*3600))
	if err != nil || n != 4*len(cells) {
		t.Fatalf("prune removed %d keys (%v), want the %d minute cells (the ids stay 7 days)", n, err, 4*len(cells))
	}
	if n := keyCount(t, s, resolutions[0].cells); n != 0 {
		t.Errorf("%d minute cells left after a prune of %d", n, 4*len(cells))
	}
}

func keyCount(t *testing.T, s *Store, bucket []byte) int {
	t.Helper()
	n := 0
	if err := s.db.View(func(tx *bbolt.Tx) error {
		n = tx.Bucket(bucket).Stats().KeyN
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return n
}
