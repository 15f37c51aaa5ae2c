// Single update checks outside the load generator: waiting until an edge
// answers a given version (setup, propagation), decoding answers, and
// scraping the edge's own counters.

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/valyala/fasthttp"
)

// answer is an update-check answer, either shape (reference §1.3, §1.4).
type answer struct {
	Version    string `json:"version"`
	URL        string `json:"url"`
	Checksum   string `json:"checksum"`
	SessionKey string `json:"session_key"`
	Manifest   []struct {
		FileName    string `json:"file_name"`
		FileHash    string `json:"file_hash"`
		DownloadURL string `json:"download_url"`
	} `json:"manifest"`
	Error string `json:"error"`
	Kind  string `json:"kind"`
}

// isUpdate reports a "new version" answer: the plugin treats any body with
// error or kind as "no update".
func (a *answer) isUpdate() bool { return a.Error == "" && a.Kind == "" && a.Version != "" }

// probeDevice returns a fixed device of app running plugin, on version
// ("" = builtin). Probes use a seed of their own so they never collide
// with fleet devices.
func probeDevice(app, plugin, version string) *device {
	d := newDevice(rand.New(rand.NewPCG(0xb0b, 0xb0b)), app, plugin)
	d.setVersion(version)
	return d
}

// checkOnce sends one update check and decodes the answer.
func checkOnce(client *fasthttp.HostClient, url string, d *device) (answer, []byte, error) {
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	d.fillCheck(req, url)
	var a answer
	if err := client.DoTimeout(req, resp, 5*time.Second); err != nil {
		return a, nil, err
	}
	body, err := resp.BodyUncompressed()
	if err != nil {
		return a, nil, fmt.Errorf("inflate the answer: %w", err)
	}
	body = append([]byte(nil), body...)
	if resp.StatusCode() != fasthttp.StatusOK {
		return a, body, fmt.Errorf("status %d: %s", resp.StatusCode(), body)
	}
	if err := json.Unmarshal(body, &a); err != nil {
		return a, body, fmt.Errorf("decode answer: %w", err)
	}
	return a, body, nil
}

// waitVersion polls every millisecond until the edge answers d with an
// update to want, and returns that answer's raw body. It is for setup and
// propagation, where the poll resolution bounds what can be measured.
func waitVersion(ctx context.Context, client *fasthttp.HostClient, url string, d *device, want string, timeout time.Duration) ([]byte, error) {
	body, _, err := waitVersionEvery(ctx, client, url, d, want, timeout, time.Millisecond)
	return body, err
}

// waitVersionEvery is waitVersion polling every poll; it also returns
// how many checks it sent (the load the probe put on the edge).
func waitVersionEvery(ctx context.Context, client *fasthttp.HostClient, url string, d *device, want string, timeout, poll time.Duration) ([]byte, int, error) {
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(poll)
	defer tick.Stop()
	var last string
	for n := 1; ; n++ {
		a, body, err := checkOnce(client, url, d)
		if err == nil && a.isUpdate() && a.Version == want {
			return body, n, nil
		}
		last = fmt.Sprintf("%v %s", err, body)
		if time.Now().After(deadline) {
			return nil, n, fmt.Errorf("%s never answered version %s within %s; last: %s", url, want, timeout, last)
		}
		select {
		case <-ctx.Done():
			return nil, n, ctx.Err()
		case <-tick.C:
		}
	}
}

// scrapeMetrics reads the unlabelled samples of an edge's /metrics.
func scrapeMetrics(client *fasthttp.HostClient, base string) (map[string]float64, error) {
	all, err := scrapeSeries(client, base)
	if err != nil {
		return nil, err
	}
	for k := range all {
		if strings.Contains(k, "{") {
			delete(all, k)
		}
	}
	return all, nil
}

// hostOf strips the scheme of a base URL for fasthttp.HostClient.Addr.
func hostOf(base string) string {
	s := strings.TrimPrefix(strings.TrimPrefix(base, "http://"), "https://")
	if i := strings.IndexByte(s, '/'); i >= 0 {
		s = s[:i]
	}
	return s
}
