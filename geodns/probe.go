// Probing: one GET of each edge's /readyz per interval, and the
// hysteresis (Fall failures to go down, Rise passes to come back) that
// keeps one lost answer from moving a region's devices.

package geodns

import (
	"context"
	"io"
	"net/http"
	"sync"
	"time"
)

// health is one edge's probe record. The first probe decides at once:
// before it the edge is unknown, and a GeoDNS that starts should not
// wait Rise intervals to answer with the edges that are up.
type health struct {
	probed bool
	ready  bool
	streak int // probes in a row that disagree with ready
	last   string
}

// observe applies one probe result and reports whether readiness changed.
func (h *health) observe(ok bool, why string, fall, rise int) bool {
	h.last = why
	if !h.probed {
		h.probed, h.ready, h.streak = true, ok, 0
		return true
	}
	if ok == h.ready {
		h.streak = 0
		return false
	}
	h.streak++
	need := fall
	if ok {
		need = rise
	}
	if h.streak < need {
		return false
	}
	h.ready, h.streak = ok, 0
	return true
}

// probe asks one edge whether it is ready: a 200 within the timeout.
// why is a short reason for the logs.
func probe(ctx context.Context, hc *http.Client, url string, timeout time.Duration) (ok bool, why string) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false, err.Error()
	}
	resp, err := hc.Do(req)
	if err != nil {
		return false, err.Error()
	}
	defer resp.Body.Close()
	// Read (a little of) the body so the connection is reused next time.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
	return resp.StatusCode == http.StatusOK, resp.Status
}

// probeAll probes every edge at once and returns the results by name.
func probeAll(ctx context.Context, hc *http.Client, edges []Edge, timeout time.Duration) map[string]result {
	var mu sync.Mutex
	var wg sync.WaitGroup
	out := make(map[string]result, len(edges))
	for _, e := range edges {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, why := probe(ctx, hc, e.ReadyURL, timeout)
			mu.Lock()
			out[e.Name] = result{ok, why}
			mu.Unlock()
		}()
	}
	wg.Wait()
	return out
}

type result struct {
	ok  bool
	why string
}
