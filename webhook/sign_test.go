// Signing against the official Standard Webhooks verifier: a delivered
// request verifies, a tampered one or another secret does not, and the
// signature matches the specification's published test vector.

package webhook

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

func TestDeliveryVerifiesWithOfficialLibrary(t *testing.T) {
	rc := newReceiver(t, "ep1", status(204))
	d := openDispatcher(t, testConfig(t))
	run(t, d)
	ev := event("evt_1")
	enqueue(t, d, rc.ep, ev)
	waitFinal(t, d, rc.ep.ID)

	reqs := rc.got()
	if len(reqs) != 1 {
		t.Fatalf("receiver got %d requests, want 1", len(reqs))
	}
	req := reqs[0]
	want := `{"type":"bundle.published","timestamp":"2025-01-02T03:04:05.0000006Z","data":{"app":"com.example.app","version":"1.2.3"}}`
	if string(req.body) != want {
		t.Errorf("body\n%s\nwant\n%s", req.body, want)
	}
	if got := req.header.Get(HeaderID); got != ev.ID {
		t.Errorf("webhook-id %q, want %q", got, ev.ID)
	}
	if ct := req.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}

	wh, err := standardwebhooks.NewWebhook(rc.ep.Secret)
	if err != nil {
		t.Fatal(err)
	}
	if err := wh.Verify(req.body, req.header); err != nil {
		t.Fatalf("official verifier refuses the delivery: %v", err)
	}
	tampered := []byte(strings.Replace(string(req.body), "1.2.3", "1.2.4", 1))
	if err := wh.Verify(tampered, req.header); !errors.Is(err, standardwebhooks.ErrNoMatchingSignature) {
		t.Errorf("tampered body: Verify = %v, want ErrNoMatchingSignature", err)
	}
	other, _ := NewSecret()
	wrong, err := standardwebhooks.NewWebhook(other)
	if err != nil {
		t.Fatal(err)
	}
	if err := wrong.Verify(req.body, req.header); !errors.Is(err, standardwebhooks.ErrNoMatchingSignature) {
		t.Errorf("wrong secret: Verify = %v, want ErrNoMatchingSignature", err)
	}
	h := req.header.Clone()
	h.Set(HeaderID, "evt_2")
	if err := wh.Verify(req.body, h); err == nil {
		t.Error("a changed webhook-id still verifies: the id is not signed")
	}
}

// TestSignKnownAnswer checks Sign against the vector every official
// library tests (the spec's own), and against the Go library itself.
func TestSignKnownAnswer(t *testing.T) {
	secret := "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	msgID := "msg_p5jXN8AQM9LWM0D4loKWxJek"
	ts := time.Unix(1614265330, 0)
	body := []byte(`{"test": 2432232314}`)
	got, err := Sign(secret, msgID, ts, body)
	if err != nil {
		t.Fatal(err)
	}
	if want := "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="; got != want {
		t.Errorf("Sign = %s, want %s", got, want)
	}
	fresh, _ := NewSecret()
	wh, _ := standardwebhooks.NewWebhook(fresh)
	lib, _ := wh.Sign(msgID, ts, body)
	if ours, _ := Sign(fresh, msgID, ts, body); ours != lib {
		t.Errorf("Sign = %s, the official library signs %s", ours, lib)
	}
}

func TestNewSecret(t *testing.T) {
	a, err := NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := NewSecret()
	if a == b {
		t.Fatal("two secrets are equal")
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(a, "whsec_"))
	if !strings.HasPrefix(a, "whsec_") || err != nil || len(key) != 32 {
		t.Fatalf("secret %q: want whsec_ + base64 of 32 bytes (%v, %d bytes)", a, err, len(key))
	}
}

func TestSignRefusesBadSecrets(t *testing.T) {
	short := "whsec_" + base64.StdEncoding.EncodeToString(make([]byte, 16))
	long := "whsec_" + base64.StdEncoding.EncodeToString(make([]byte, 65))
	for _, s := range []string{"", "whsec_", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_not*base64", short, long} {
		if _, err := Sign(s, "id", time.Unix(0, 0), nil); !errors.Is(err, ErrBadSecret) {
			t.Errorf("Sign with secret %q: %v, want ErrBadSecret", s, err)
		}
	}
}
