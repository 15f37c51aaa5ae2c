// One attempt: the signed POST, the answer read (at most 64 KiB of it),
// and what the answer means for the delivery.

package webhook

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// maxResponse is how much of an answer's body is read: enough for the
// connection to be reused after an ordinary answer, never enough for an
// endpoint streaming forever to hold a slot or fill memory.
const maxResponse = 64 << 10

// keptResponse is how much of the body the log keeps for the operator.
const keptResponse = 256

// userAgent names the sender, so receivers can tell our requests apart.
const userAgent = "aloft-webhook/1"

// result is what one attempt found.
type result struct {
	at         time.Time // start, from Config.Now: the webhook-timestamp
	dur        time.Duration
	status     int   // 0 when no answer came
	err        error // no answer: transport error, timeout, refused address
	response   string
	retryAfter string // the answer's Retry-After header, unparsed
}

// send makes one attempt at it, bounded by Config.Timeout whatever the
// Client's own settings.
func (d *Dispatcher) send(ctx context.Context, it *itemRecord) (res result) {
	ctx, cancel := context.WithTimeout(ctx, d.cfg.Timeout)
	defer cancel()
	res.at = d.cfg.Now()
	start := time.Now() // monotonic, for the duration even under a fake Now
	defer func() { res.dur = time.Since(start) }()
	key, err := parseSecret(it.Secret)
	if err != nil {
		res.err = err
		return res
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, it.URL, bytes.NewReader(it.Body))
	if err != nil {
		res.err = err
		return res
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", userAgent)
	req.Header.Set(HeaderID, it.EventID)
	req.Header.Set(HeaderTimestamp, strconv.FormatInt(res.at.Unix(), 10))
	req.Header.Set(HeaderSignature, signKey(key, it.EventID, res.at.Unix(), it.Body))
	resp, err := d.cfg.Client.Do(req)
	if err != nil {
		res.err = err
		return res
	}
	defer resp.Body.Close()
	res.status = resp.StatusCode
	res.retryAfter = resp.Header.Get("Retry-After")
	// The status decides the outcome; a body cut short by the timeout
	// does not undo a 2xx the receiver already gave.
	head, _ := io.ReadAll(io.LimitReader(resp.Body, keptResponse))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxResponse-keptResponse))
	res.response = printable(head)
	return res
}

// printable is b as text fit for a log: valid UTF-8, no control bytes.
func printable(b []byte) string {
	s := strings.ToValidUTF8(string(b), "\uFFFD")
	return strings.Map(func(r rune) rune {
		if r < 0x20 && r != '\n' && r != '\t' || r == 0x7f {
			return -1
		}
		return r
	}, s)
}

// verdict says what res means: delivered, final (give up now), and why
// it failed when it did.
func (res result) verdict() (delivered, final bool, reason string) {
	switch {
	case res.err != nil:
		// A refused address or an unusable secret stays so on retry;
		// an expired delivery was not attempted at all.
		final = errors.Is(res.err, ErrPrivateAddress) || errors.Is(res.err, ErrBadSecret) || errors.Is(res.err, errExpired)
		return false, final, res.err.Error()
	case res.status >= 200 && res.status <= 299:
		return true, false, ""
	case res.status == http.StatusGone:
		return false, true, "HTTP 410 Gone: the endpoint wants no more deliveries"
	case res.status >= 300 && res.status <= 399:
		return false, false, fmt.Sprintf("HTTP %d %s: redirects are not followed, update the endpoint URL", res.status, http.StatusText(res.status))
	}
	return false, false, strings.TrimSpace(fmt.Sprintf("HTTP %d %s", res.status, http.StatusText(res.status)))
}

// truncate cuts s to at most n bytes on a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
