// memberlist logs through a *log.Logger with "[LEVEL] memberlist: "
// prefixes; logWriter turns each line back into a leveled slog record so
// an operator filters it like the rest of the edge's log.

package gossip

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// logWriter is the io.Writer behind memberlist's *log.Logger, which makes
// one Write per line and serializes them. memberlist logs one line per
// bad packet or stream, so anyone who can reach the gossip port could
// write the edge's log as fast as they send: at most logBurst lines per
// logWindow pass, and the next line after a window that dropped some
// says how many.
type logWriter struct {
	l *slog.Logger

	mu          sync.Mutex
	windowStart time.Time
	inWindow    int
	dropped     int
}

const (
	logWindow = 10 * time.Second
	logBurst  = 20
)

func newLogWriter(l *slog.Logger) *logWriter { return &logWriter{l: l} }

func (w *logWriter) Write(p []byte) (int, error) {
	level, line := splitLevel(bytes.TrimRight(p, "\r\n"))
	ctx := context.Background()
	if !w.l.Enabled(ctx, level) {
		return len(p), nil
	}
	w.mu.Lock()
	now := time.Now()
	dropped := 0
	if now.Sub(w.windowStart) >= logWindow {
		dropped, w.dropped = w.dropped, 0
		w.windowStart, w.inWindow = now, 0
	}
	pass := w.inWindow < logBurst
	if pass {
		w.inWindow++
	} else {
		w.dropped++
	}
	w.mu.Unlock()
	if dropped > 0 {
		w.l.Warn("gossip log lines dropped: more than the rate limit", "dropped", dropped, "limit", fmt.Sprintf("%d per %v", logBurst, logWindow))
	}
	if pass {
		line = bytes.TrimPrefix(line, []byte("memberlist: "))
		w.l.Log(ctx, level, string(line))
	}
	return len(p), nil
}

// splitLevel reads memberlist's level prefix (it writes both [ERR] and
// [ERROR]); a line without one is Info.
func splitLevel(line []byte) (slog.Level, []byte) {
	end := bytes.IndexByte(line, ']')
	if len(line) == 0 || line[0] != '[' || end < 0 {
		return slog.LevelInfo, line
	}
	rest := bytes.TrimPrefix(line[end+1:], []byte(" "))
	switch string(line[1:end]) {
	case "DEBUG":
		return slog.LevelDebug, rest
	case "INFO":
		return slog.LevelInfo, rest
	case "WARN":
		return slog.LevelWarn, rest
	case "ERR", "ERROR":
		return slog.LevelError, rest
	}
	return slog.LevelInfo, line
}
