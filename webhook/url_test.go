// Endpoint URLs and events Enqueue refuses, and the default Client's
// refusal to dial non-public addresses.

package webhook

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestCheckURL(t *testing.T) {
	ok := []struct {
		url       string
		allowHTTP bool
	}{
		{"https://hooks.example.com/aloft", false},
		{"https://hooks.example.com:8443/a?b=c", false},
		{"HTTPS://[2001:db8::1]/x", false},
		{"http://127.0.0.1:8080/hook", true},
	}
	for _, c := range ok {
		if err := CheckURL(c.url, c.allowHTTP); err != nil {
			t.Errorf("CheckURL(%q, %v) = %v, want nil", c.url, c.allowHTTP, err)
		}
	}
	bad := []struct {
		url, why string
	}{
		{"", "empty"},
		{"http://hooks.example.com/", "use https"},
		{"ftp://hooks.example.com/", `scheme "ftp"`},
		{"hooks.example.com/aloft", "not an absolute URL"},
		{"/aloft", "not an absolute URL"},
		{"https:hooks.example.com", "no host"},
		{"https:///aloft", "no host"},
		{"https://user:pass@hooks.example.com/", "credentials"},
		{"https://token@hooks.example.com/", "credentials"},
		{"https://hooks.example.com/#frag", "fragment"},
		{"https://hooks.example.com:0/", "port"},
		{"https://hooks.example.com:99999/", "port"},
		{"https://hooks.example.com/\x7f", "invalid control character"},
		{"https://hooks.example.com/" + strings.Repeat("a", maxURLLen), "at most"},
	}
	for _, c := range bad {
		err := CheckURL(c.url, false)
		if !errors.Is(err, ErrBadURL) || !strings.Contains(err.Error(), c.why) {
			t.Errorf("CheckURL(%q) = %v, want ErrBadURL saying %q", c.url, err, c.why)
		}
	}
}

func TestEnqueueRefuses(t *testing.T) {
	d := openDispatcher(t, DefaultConfig(testConfig(t).Path))
	secret, _ := NewSecret()
	good := Endpoint{ID: "ep1", URL: "https://hooks.example.com/aloft", Secret: secret}
	if err := d.Enqueue(good, event("evt_ok")); err != nil {
		t.Fatalf("a good endpoint and event: %v", err)
	}
	endpoints := []struct {
		ep   Endpoint
		want error
	}{
		{Endpoint{ID: "", URL: good.URL, Secret: secret}, ErrBadEvent},
		{Endpoint{ID: "ep", URL: "http://hooks.example.com/", Secret: secret}, ErrBadURL},
		{Endpoint{ID: "ep", URL: good.URL, Secret: "hunter2"}, ErrBadSecret},
	}
	for _, c := range endpoints {
		if err := d.Enqueue(c.ep, event("evt_1")); !errors.Is(err, c.want) {
			t.Errorf("Enqueue to %+v: %v, want %v", c.ep, err, c.want)
		}
	}
	mod := func(f func(*Event)) Event { ev := event("evt_1"); f(&ev); return ev }
	events := []Event{
		mod(func(e *Event) { e.ID = "" }),
		mod(func(e *Event) { e.ID = "evt.1" }),
		mod(func(e *Event) { e.ID = "evt 1" }),
		mod(func(e *Event) { e.ID = strings.Repeat("a", maxIDLen+1) }),
		mod(func(e *Event) { e.Type = "" }),
		mod(func(e *Event) { e.Type = "bundle..published" }),
		mod(func(e *Event) { e.Type = ".bundle" }),
		mod(func(e *Event) { e.Type = "bundle published" }),
		mod(func(e *Event) { e.At = time.Time{} }),
		mod(func(e *Event) { e.Data = json.RawMessage(`{"a":`) }),
		mod(func(e *Event) { e.Data = json.RawMessage(`"` + strings.Repeat("a", maxBody) + `"`) }),
	}
	for i, ev := range events {
		if err := d.Enqueue(good, ev); !errors.Is(err, ErrBadEvent) {
			t.Errorf("Enqueue of event %d: %v, want ErrBadEvent", i, err)
		}
	}
	if n := pending(t, d); n != 1 {
		t.Errorf("%d pending, want only the good one", n)
	}
}

func TestDefaultClientRefusesPrivateAddresses(t *testing.T) {
	rc := newReceiver(t, "ep1", status(http.StatusOK)) // on 127.0.0.1
	cfg := testConfig(t)
	cfg.AllowPrivate = false
	d := openDispatcher(t, cfg)
	run(t, d)
	enqueue(t, d, rc.ep, event("evt_1"))
	log := waitFinal(t, d, rc.ep.ID)
	if len(log) != 1 || log[0].Outcome != GaveUp || !strings.Contains(log[0].Error, ErrPrivateAddress.Error()) {
		t.Errorf("log %+v: want one attempt, given up as not public", log)
	}
	if rc.count() != 0 {
		t.Errorf("the loopback endpoint got %d requests", rc.count())
	}
}

func TestIsPublic(t *testing.T) {
	for addr, want := range map[string]bool{
		"8.8.8.8": true, "2001:4860:4860::8888": true, "100.128.0.1": true,
		"127.0.0.1": false, "::1": false, "10.1.2.3": false, "172.16.0.1": false,
		"192.168.1.1": false, "169.254.169.254": false, "100.64.0.1": false,
		"0.0.0.0": false, "0.1.2.3": false, "::": false, "fd00::1": false,
		"fe80::1": false, "224.0.0.1": false, "255.255.255.255": false,
	} {
		if got := isPublic(netip.MustParseAddr(addr).Unmap()); got != want {
			t.Errorf("isPublic(%s) = %v, want %v", addr, got, want)
		}
	}
}
