package wait

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

// TestUntil_HoldsOrTimesOut: Until returns as soon as the condition
// holds, and with the context's error when it never does.
func TestUntil_HoldsOrTimesOut(t *testing.T) {
	calls := 0
	if err := Until(context.Background(), time.Millisecond, func() bool { calls++; return calls == 3 }); err != nil || calls != 3 {
		t.Fatalf("Until = %v after %d calls, want nil after 3", err, calls)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := Until(ctx, time.Millisecond, func() bool { return false }); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Until on a condition that never holds = %v", err)
	}
}

// fakeT records a failure instead of ending the test.
type fakeT struct{ failed string }

func (f *fakeT) Helper()                        {}
func (f *fakeT) Fatalf(format string, a ...any) { f.failed = fmt.Sprintf(format, a...) }

// TestFor_NamesWhatItWaitedFor: a wait that times out says what it
// waited for; one that succeeds says nothing.
func TestFor_NamesWhatItWaitedFor(t *testing.T) {
	var ok, bad fakeT
	For(&ok, time.Second, "the truth", func() bool { return true })
	For(&bad, 10*time.Millisecond, "a miracle", func() bool { return false })
	if ok.failed != "" || bad.failed != "timed out after 10ms waiting for a miracle" {
		t.Fatalf("For reported %q and %q", ok.failed, bad.failed)
	}
}
