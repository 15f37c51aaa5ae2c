// Ingest throughput on a full-sized batch.

package analytics

import (
	"fmt"
	"testing"

	"github.com/aloft/aloft/origin/api"
)

// BenchmarkIngest ingests batches of 2,000 cells (over 25 minutes) and
// 2,000 devices with a download start and complete each; every batch
// updates the same keys and appends to the same timelines (full after 50
// batches), the steady state of a busy app.
func BenchmarkIngest(b *testing.B) {
	s, err := Open(DefaultConfig(b.TempDir() + "/analytics.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	batch := api.StatsBatch{Region: "eu"}
	for i := range 2000 {
		batch.Cells = append(batch.Cells, api.StatsCell{Minute: minute(10, i%25), App: testApp, Channel: "production",
			Version: randVersions[i/25%3] + fmt.Sprint(i/75%4), Platform: randPlatforms[i/300%2], Plugin: "6.0.0",
			Action: fmt.Sprint("action", i/600), N: 3, Dur: [][2]int64{{int64(i % 96), 1}}})
	}
	for i := range 2000 {
		d := seen(fmt.Sprint("device-", i), 10, i%25, v2,
			ev("download_zip_start", v2, ms(10, i%25, 0, 0), 0), ev("download_zip_complete", v2, ms(10, i%25, 2, int64(i)), 0))
		batch.Devices = append(batch.Devices, d)
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		batch.ID = fmt.Sprint("batch-", i)
		for j := range batch.Devices { // new events: the timelines fill up to TimelineLen
			for k := range batch.Devices[j].Events {
				batch.Devices[j].Events[k].At += 10000
			}
		}
		if counted, err := s.Ingest(batch, tm(at(10, 30))); err != nil || !counted {
			b.Fatal(counted, err)
		}
	}
}
