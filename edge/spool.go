// A small on-disk spool for stats batches an edge could not ship: at
// shutdown the unsent batch is written to SpoolDir, and at start spooled
// batches are sent before new counts. Batches keep their ids, so a batch
// the origin did receive before the edge stopped still counts once.

package edge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/aloft/aloft/origin/api"
)

// maxSpooled bounds the batches kept on disk; older ones are dropped
// first (and logged) so an edge cut off for days cannot fill its disk.
const maxSpooled = 1000

type spooled struct {
	path  string
	batch api.StatsBatch
}

// loadSpool reads the batches left in dir, oldest first.
func loadSpool(dir string) ([]spooled, error) {
	if dir == "" {
		return nil, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("edge: spool dir: %w", err)
	}
	names, err := filepath.Glob(filepath.Join(dir, "stats-*.json"))
	if err != nil {
		return nil, err
	}
	sort.Strings(names) // names start with a zero-padded sequence
	var out []spooled
	for _, p := range names {
		b, err := os.ReadFile(p)
		var batch api.StatsBatch
		if err == nil {
			err = json.Unmarshal(b, &batch)
		}
		if err != nil || batch.ID == "" {
			// A torn write from a crash: nothing to send.
			_ = os.Remove(p)
			continue
		}
		out = append(out, spooled{path: p, batch: batch})
	}
	return out, nil
}

// spoolBatch writes b to dir atomically, after the ones already there.
func spoolBatch(dir string, seq int, b *api.StatsBatch) (string, error) {
	data, err := json.Marshal(b)
	if err != nil {
		return "", err
	}
	p := filepath.Join(dir, fmt.Sprintf("stats-%010d-%s.json", seq, safeID(b.ID)))
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return "", err
	}
	return p, os.Rename(tmp, p)
}

func safeID(id string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r >= 'A' && r <= 'Z' {
			return r
		}
		return '_'
	}, id)
}

// sendSpooled ships spooled batches in order, removing each once the
// origin took it; it stops at the first failure.
func (n *Node) sendSpooled(ctx context.Context) error {
	for len(n.spool) > 0 {
		s := n.spool[0]
		if err := n.cfg.Origin.PushStats(ctx, s.batch); err != nil {
			return err
		}
		_ = os.Remove(s.path)
		n.spool = n.spool[1:]
	}
	return nil
}

// spoolPending writes whatever could not be shipped before shutdown.
func (n *Node) spoolPending() error {
	if n.cfg.SpoolDir == "" {
		return nil
	}
	// A batch the origin refused is still pending and take returns it
	// first; what was counted after it is a second batch: loop until both
	// are on disk.
	for b := n.stats.take(); b != nil; b = n.stats.take() {
		if len(n.spool) >= maxSpooled {
			n.log.Error("stats spool full; dropping the oldest batch", "dir", n.cfg.SpoolDir)
			_ = os.Remove(n.spool[0].path)
			n.spool = n.spool[1:]
		}
		next := 0
		if len(n.spool) > 0 {
			fmt.Sscanf(filepath.Base(n.spool[len(n.spool)-1].path), "stats-%d-", &next)
			next++
		}
		sp, err := spoolBatch(n.cfg.SpoolDir, next, b)
		if err != nil {
			return errors.Join(errors.New("edge: spool stats"), err)
		}
		n.spool = append(n.spool, spooled{path: sp, batch: *b})
		n.stats.done()
	}
	return nil
}
