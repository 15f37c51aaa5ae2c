package main

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// series is a curve a test logs as "series: NAME|UNIT|v1,v2,…": one value
// per repetition or per event, in the order they happened, which says
// more than a p50 and a max (a trend, an outlier, a slow first round).
type series struct {
	Name   string    `json:"name"`
	Unit   string    `json:"unit"`
	Values []float64 `json:"values"`
}

// parseSeries reads what follows "series: " on a test's log line.
func parseSeries(s string) (series, bool) {
	parts := strings.SplitN(strings.TrimSpace(s), "|", 3)
	if len(parts) != 3 || parts[0] == "" {
		return series{}, false
	}
	out := series{Name: parts[0], Unit: parts[1]}
	for _, f := range strings.Split(parts[2], ",") {
		v, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
			return series{}, false
		}
		out.Values = append(out.Values, v)
	}
	return out, len(out.Values) > 0
}

// svg draws s as points joined by a line over a zero-based y axis, with
// its maximum and mean marked: small, dependency-free, and readable in
// any Markdown viewer that shows images.
func (s series) svg() []byte {
	const w, h, left, right, top, bottom = 640.0, 240.0, 56.0, 16.0, 28.0, 32.0
	hi := 0.0
	sum := 0.0
	for _, v := range s.Values {
		hi = max(hi, v)
		sum += v
	}
	if hi == 0 {
		hi = 1
	}
	hi *= 1.1
	mean := sum / float64(len(s.Values))
	x := func(i int) float64 {
		if len(s.Values) == 1 {
			return left + (w-left-right)/2
		}
		return left + float64(i)*(w-left-right)/float64(len(s.Values)-1)
	}
	y := func(v float64) float64 { return top + (h-top-bottom)*(1-v/hi) }
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" viewBox="0 0 %.0f %.0f" font-family="sans-serif" font-size="11">`+"\n", w, h, w, h)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&b, `<text x="%.0f" y="16" font-size="13">%s (%s), %d values: max %.4g, mean %.4g</text>`+"\n", left, esc(s.Name), esc(s.Unit), len(s.Values), hi/1.1, mean)
	fmt.Fprintf(&b, `<line x1="%.0f" y1="%.0f" x2="%.0f" y2="%.0f" stroke="black"/>`+"\n", left, y(0), w-right, y(0))
	fmt.Fprintf(&b, `<line x1="%.0f" y1="%.0f" x2="%.0f" y2="%.0f" stroke="black"/>`+"\n", left, top, left, y(0))
	for _, t := range []float64{0, hi / 2.2, hi / 1.1} {
		fmt.Fprintf(&b, `<text x="%.0f" y="%.1f" text-anchor="end">%.4g</text>`+"\n", left-4, y(t)+4, t)
	}
	fmt.Fprintf(&b, `<line x1="%.0f" y1="%.1f" x2="%.0f" y2="%.1f" stroke="#999" stroke-dasharray="4 3"/>`+"\n", left, y(mean), w-right, y(mean))
	fmt.Fprintf(&b, `<text x="%.0f" y="%.0f" text-anchor="middle">1 … %d, in the order they happened</text>`+"\n", (left+w-right)/2, h-8, len(s.Values))
	var pts []string
	for i, v := range s.Values {
		pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(i), y(v)))
	}
	fmt.Fprintf(&b, `<polyline fill="none" stroke="#2a6fdb" stroke-width="1.5" points="%s"/>`+"\n", strings.Join(pts, " "))
	for i, v := range s.Values {
		fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="2.5" fill="#2a6fdb"/>`+"\n", x(i), y(v))
	}
	b.WriteString("</svg>\n")
	return []byte(b.String())
}

// esc makes s safe inside SVG text.
func esc(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// slug makes a file name part of s.
func slug(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		case b.Len() > 0 && !strings.HasSuffix(b.String(), "-"):
			b.WriteByte('-')
		}
	}
	return strings.Trim(b.String(), "-")
}
