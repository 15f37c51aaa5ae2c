// memberlist logs through a *log.Logger with "[LEVEL] memberlist: "
// prefixes; logWriter turns each line back into a leveled slog record so
// an operator filters it like the rest of the edge's log.

package gossip

import (
	"bytes"
	"context"
	"log/slog"
)

// logWriter is the io.Writer behind memberlist's *log.Logger, which makes
// one Write per line and serializes them.
type logWriter struct{ l *slog.Logger }

func (w logWriter) Write(p []byte) (int, error) {
	level, line := splitLevel(bytes.TrimRight(p, "\r\n"))
	if !w.l.Enabled(context.Background(), level) {
		return len(p), nil
	}
	line = bytes.TrimPrefix(line, []byte("memberlist: "))
	w.l.Log(context.Background(), level, string(line))
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
