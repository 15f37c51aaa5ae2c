// Endpoint URLs: what an endpoint may be registered with (CheckURL), and
// the default HTTP client, which refuses to dial the origin's own network
// and follows no redirects.

package webhook

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ErrBadURL is wrapped by every CheckURL refusal.
var ErrBadURL = errors.New("webhook: bad endpoint URL")

// ErrPrivateAddress is wrapped by the error of an attempt the default
// Client refused to dial because the endpoint's host resolved to a
// loopback, private or link-local address (Config.AllowPrivate). Such a
// delivery is given up at once: retrying would not change the answer.
var ErrPrivateAddress = errors.New("webhook: endpoint address is not public")

// maxURLLen bounds an endpoint URL; longer ones are a mistake or abuse.
const maxURLLen = 2048

// CheckURL reports why raw cannot be an endpoint URL, or nil. It must be
// an absolute https URL (http too when allowHTTP, for tests) with a host,
// without credentials (user:pass@ would be sent in clear to any proxy and
// logged; authenticate with the signature instead) and without a
// fragment (never sent, so surely a mistake). It does not resolve the
// host: the dial-time check of Config.AllowPrivate covers what DNS says.
func CheckURL(raw string, allowHTTP bool) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w %q: "+format, append([]any{ErrBadURL, raw}, args...)...)
	}
	if raw == "" {
		return fmt.Errorf("%w: empty", ErrBadURL)
	}
	if len(raw) > maxURLLen {
		return fmt.Errorf("%w: %d bytes long, at most %d", ErrBadURL, len(raw), maxURLLen)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBadURL, err)
	}
	switch strings.ToLower(u.Scheme) {
	case "https":
	case "http":
		if !allowHTTP {
			return bad("plain http is refused, use https (http is only for tests)")
		}
	case "":
		return bad("not an absolute URL: give the scheme, https://host/path")
	default:
		return bad("scheme %q is not https", u.Scheme)
	}
	switch {
	case u.Opaque != "":
		return bad("no host: write %s://host/path", u.Scheme)
	case u.User != nil:
		return bad("credentials in the URL are refused: receivers authenticate deliveries by their signature")
	case u.Hostname() == "":
		return bad("no host")
	case u.Fragment != "" || strings.HasSuffix(raw, "#"):
		return bad("a fragment (#...) is never sent: remove it")
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return bad("port %q is not 1..65535", p)
		}
	}
	return nil
}

// newClient is the default Client: bounded by timeout, no proxy (so the
// address check sees the endpoint, not a proxy), no redirects followed.
func newClient(timeout time.Duration, allowPrivate bool) *http.Client {
	dialer := &net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}
	if !allowPrivate {
		dialer.Control = refusePrivate
	}
	tr := &http.Transport{
		Proxy:                 nil,
		DialContext:           dialer.DialContext,
		ForceAttemptHTTP2:     true,
		TLSHandshakeTimeout:   timeout,
		ResponseHeaderTimeout: timeout,
		MaxIdleConnsPerHost:   2,
		IdleConnTimeout:       90 * time.Second,
	}
	return &http.Client{
		Transport: tr,
		Timeout:   timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// refusePrivate is a net.Dialer Control hook: it sees the address about
// to be dialled, after DNS, so a public name that resolves (or rebinds)
// to an internal address is refused too.
func refusePrivate(network, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrPrivateAddress, address, err)
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return fmt.Errorf("%w: %s is not an IP address", ErrPrivateAddress, host)
	}
	if !isPublic(ip.Unmap()) {
		return fmt.Errorf("%w: %s (set Config.AllowPrivate to deliver to it)", ErrPrivateAddress, ip)
	}
	return nil
}

// isPublic reports whether ip is a unicast address on the internet at
// large: not loopback, private (10/8, 172.16/12, 192.168/16, fc00::/7),
// link-local (169.254/16 holds cloud metadata services), shared CGNAT
// space (100.64/10), "this network" (0/8), unspecified or multicast.
func isPublic(ip netip.Addr) bool {
	if ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() ||
		ip.IsLinkLocalMulticast() || ip.IsInterfaceLocalMulticast() ||
		ip.IsMulticast() || ip.IsUnspecified() {
		return false
	}
	if ip.Is4() {
		b := ip.As4()
		if b[0] == 0 || (b[0] == 100 && b[1]&0xc0 == 64) || b == [4]byte{255, 255, 255, 255} {
			return false
		}
	}
	return true
}
