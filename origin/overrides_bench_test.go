package origin

import (
	"flag"
	"fmt"
	"testing"
	"time"
)

var benchPinned = flag.Int("bench-pinned", 100000, "devices already pinned in BenchmarkPin")

// BenchmarkPin: one more pinned device, through the FSM and the feed's
// projection, with -bench-pinned devices pinned before (0 gives the
// baseline of the same run: the ratio is what the bucketed overrides
// keep near 1).
func BenchmarkPin(b *testing.B) {
	for _, pinned := range []int{0, *benchPinned} {
		b.Run(fmt.Sprintf("pinned=%d", pinned), func(b *testing.B) {
			s := newState()
			const app = "com.example.app"
			s.apply(1, cmd(b, cmdCreateApp, "", createAppCmd{AppID: app}))
			one := "1"
			s.apply(2, cmd(b, cmdPutBundle, "", putBundleCmd{App: app, Bundle: logBundle{Version: one, Checksum: "x"}}))
			s.apply(3, cmd(b, cmdPutChannel, "", putChannelCmd{App: app, Name: "beta", Spec: logChannelSpec{Bundle: &one}}))
			idx := uint64(3)
			pin := func(i int) Command {
				return cmd(b, cmdSetOverride, "", setOverrideCmd{App: app, Device: fmt.Sprintf("00000000-0000-4000-8000-%012d", i), Channel: "beta"})
			}
			for i := range pinned {
				idx++
				s.apply(idx, pin(i))
			}
			fl := newFeedLog(nil, time.Hour, time.Hour)
			fl.advance(s.Catalog)
			cmds := make([]Command, b.N)
			for i := range cmds {
				cmds[i] = pin(pinned + i)
			}
			b.ResetTimer()
			for i := range b.N {
				idx++
				s.apply(idx, cmds[i])
				fl.advance(s.Catalog)
			}
		})
	}
}
