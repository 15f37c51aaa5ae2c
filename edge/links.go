// Where download links point. A device downloads whatever URL an update
// answer names, so the base of those URLs must never come from a header an
// attacker controls: it is the configured public URL, or a Host on the
// allow-list, or the edge's own fallback.

package edge

import (
	"bytes"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// links decides the base URL of a request's download links.
type links struct {
	public       string                // the configured PublicURL; wins when set
	allowed      map[string]*[2]string // lower-case host[:port] links may name → its http and https bases
	fallback     string                // host[:port] used when the request names no allowed host
	fallbackBase [2]string             // its http and https bases
	trusted      []netip.Prefix        // peers whose X-Forwarded-Proto/Host are believed
	refused      atomic.Uint64         // requests whose host was not allowed
	lastWarn     atomic.Int64
	log          *slog.Logger
}

// newLinks builds the policy for an edge listening on addr.
func newLinks(cfg *Config, addr string, log *slog.Logger) *links {
	l := &links{public: cfg.PublicURL, allowed: map[string]*[2]string{}, trusted: cfg.TrustedProxies, log: log}
	_, port, _ := net.SplitHostPort(addr)
	hosts := cfg.AllowedHosts
	if len(hosts) == 0 {
		hosts = DefaultAllowedHosts()
	}
	for _, h := range hosts {
		h = strings.ToLower(strings.TrimSpace(h))
		if h == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(h); err == nil {
			l.allow(h)
			continue
		}
		// A name without a port matches the port-less form (a proxy on
		// the scheme's default port) and the edge's own port, not every
		// port: each distinct base is another cached answer.
		bare := strings.Trim(h, "[]")
		l.allow(hostPort(bare, ""))
		l.allow(hostPort(bare, port))
	}
	if len(cfg.AllowedHosts) > 0 {
		l.fallback = strings.ToLower(strings.TrimSpace(cfg.AllowedHosts[0]))
	} else {
		host, _, _ := net.SplitHostPort(addr)
		if ip, err := netip.ParseAddr(host); err != nil || ip.IsUnspecified() {
			host = "127.0.0.1"
		}
		l.fallback = hostPort(host, port)
	}
	l.fallbackBase = [2]string{"http://" + l.fallback, "https://" + l.fallback}
	return l
}

// allow admits h, with its two bases built once: the check path then
// hands out a shared string instead of building one per request.
func (l *links) allow(h string) { l.allowed[h] = &[2]string{"http://" + h, "https://" + h} }

func hostPort(host, port string) string {
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if port == "" {
		return host
	}
	return host + ":" + port
}

// DefaultAllowedHosts is the allow-list an edge uses when neither
// PublicURL nor AllowedHosts is set: loopback, this machine's host name
// and its interface addresses, so `aloft dev` works from the machine and
// from phones on the same network, and nothing else.
func DefaultAllowedHosts() []string {
	out := []string{"localhost", "127.0.0.1", "::1"}
	if h, err := os.Hostname(); err == nil && h != "" {
		out = append(out, h)
	}
	if addrs, err := net.InterfaceAddrs(); err == nil {
		for _, a := range addrs {
			if p, err := netip.ParsePrefix(a.String()); err == nil {
				out = append(out, p.Addr().String())
			}
		}
	}
	return out
}

// base returns the scheme://host of the links in ctx's answer.
func (l *links) base(ctx *fasthttp.RequestCtx) string {
	if l.public != "" {
		return l.public
	}
	tls := ctx.IsTLS()
	// ctx.Host is the request URI's host for an absolute-form request,
	// else the Host header: both are checked below.
	host := ctx.Host()
	if l.isTrusted(ctx.RemoteIP()) {
		if p := ctx.Request.Header.Peek("X-Forwarded-Proto"); string(p) == "https" || string(p) == "http" {
			tls = string(p) == "https"
		}
		if fh := ctx.Request.Header.Peek("X-Forwarded-Host"); len(fh) > 0 {
			if i := bytes.IndexByte(fh, ','); i >= 0 {
				fh = fh[:i]
			}
			host = bytes.TrimSpace(fh)
		}
	}
	scheme := 0
	if tls {
		scheme = 1
	}
	if b := l.lookup(host); b != nil {
		return b[scheme]
	}
	l.refused.Add(1)
	l.warnRefused()
	return l.fallbackBase[scheme]
}

// lookup finds host's bases, nil when it is not allowed, without
// allocating.
func (l *links) lookup(host []byte) *[2]string {
	if len(host) == 0 || len(host) > 300 {
		return nil
	}
	var buf [300]byte
	low := buf[:len(host)]
	for i, c := range host {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		low[i] = c
	}
	return l.allowed[string(low)]
}

func (l *links) isTrusted(ip net.IP) bool {
	if len(l.trusted) == 0 {
		return false
	}
	a, ok := netip.AddrFromSlice(ip)
	if !ok {
		return false
	}
	a = a.Unmap()
	for _, p := range l.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// warnRefused logs at most once a minute that links were built from the
// fallback, naming no host (it is attacker-chosen text).
func (l *links) warnRefused() {
	now := time.Now().UnixNano()
	last := l.lastWarn.Load()
	if now-last < int64(time.Minute) || !l.lastWarn.CompareAndSwap(last, now) {
		return
	}
	l.log.Warn("requests named a host that is not allowed; their links use the fallback " + l.fallback +
		" (set --public-url, or add the host to --allowed-hosts); refused so far: " + strconv.FormatUint(l.refused.Load(), 10))
}
