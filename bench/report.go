// The report: report.json with every number (for comparing runs),
// report.md with the summary a person reads, and the machine it ran on.

package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
)

// report is everything one run measured.
type report struct {
	Meta        meta               `json:"meta"`
	Goals       []goal             `json:"goals"`
	Checkins    *checkinsResult    `json:"checkins,omitempty"`
	Downloads   *downloadsResult   `json:"downloads,omitempty"`
	Release     *releaseResult     `json:"release,omitempty"`
	Stats       *statsResult       `json:"stats,omitempty"`
	Propagation *propagationResult `json:"propagation,omitempty"`
	Sync        *syncResult        `json:"sync,omitempty"`
	Region      *regionResult      `json:"region,omitempty"`
	Cluster     *clusterResult     `json:"cluster,omitempty"`
	// Errors maps a scenario that failed to its error.
	Errors map[string]string `json:"errors"`
	Plots  []string          `json:"plots"`
}

type meta struct {
	Started   string   `json:"started"`
	DurationS float64  `json:"duration_s"`
	Command   string   `json:"command"`
	Quick     bool     `json:"quick"`
	Scenarios []string `json:"scenarios"`
	Machine   machine  `json:"machine"`
	Go        string   `json:"go"`
	Commit    string   `json:"commit"`
	Nginx     string   `json:"nginx"`
	// Placement says which CPUs the servers and the generator ran on.
	Placement string `json:"placement"`
}

type machine struct {
	CPU    string  `json:"cpu"`
	Cores  int     `json:"cores"`
	MemGiB float64 `json:"mem_gib"`
	Kernel string  `json:"kernel"`
	OS     string  `json:"os"`
}

// describeMachine reads /proc and /etc/os-release; unknown fields stay empty.
func describeMachine() machine {
	m := machine{Cores: runtime.NumCPU()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if rest, ok := strings.CutPrefix(l, "MemTotal:"); ok {
				kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
				m.MemGiB = round3(kb / (1 << 20))
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile("/etc/os-release"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "PRETTY_NAME="); ok {
				m.OS = strings.Trim(v, `"`)
			}
		}
	}
	return m
}

// commitOf names the checked-out commit, marked dirty when the tree is.
func commitOf(root string) string {
	out, err := exec.Command("git", "-C", root, "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		return "unknown"
	}
	c := strings.TrimSpace(string(out))
	if st, err := exec.Command("git", "-C", root, "status", "--porcelain").Output(); err == nil && len(st) > 0 {
		c += " (uncommitted changes)"
	}
	return c
}

func nginxVersion() string {
	bin, err := findNginx()
	if err != nil {
		return "absent"
	}
	out, _ := exec.Command(bin, "-v").CombinedOutput()
	return strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(string(out)), "nginx version: "))
}

func writeJSON(dir string, r *report) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "report.json"), append(b, '\n'), 0o644)
}

func writeMarkdown(dir string, r *report) error {
	var b strings.Builder
	m := r.Meta
	fmt.Fprintf(&b, "# Aloft bench — %s\n\n", m.Started)
	fmt.Fprintf(&b, "Command: `%s` (%.0f s). Commit %s.\n\n", m.Command, m.DurationS, m.Commit)
	fmt.Fprintf(&b, "Machine: %s, %d cores, %.1f GiB, %s, kernel %s, %s, nginx %s. Everything on loopback; %s.\n\n",
		m.Machine.CPU, m.Machine.Cores, m.Machine.MemGiB, m.Machine.OS, m.Machine.Kernel, m.Go, m.Nginx, m.Placement)
	b.WriteString("## Goals\n\n| goal | measured | met |\n| --- | --- | --- |\n")
	for _, g := range r.Goals {
		fmt.Fprintf(&b, "| %s | %s | %s |\n", g.Goal, g.Measured, metWord(g.Met))
	}
	b.WriteString("\n")
	writeCheckins(&b, r.Checkins)
	writeDownloads(&b, r.Downloads)
	writeRelease(&b, r.Release)
	writeStats(&b, r.Stats)
	writePropagation(&b, r.Propagation)
	writeSync(&b, r.Sync)
	writeRegion(&b, r.Region)
	writeCluster(&b, r.Cluster)
	if len(r.Errors) > 0 {
		b.WriteString("## Errors\n\n")
		for s, e := range r.Errors {
			fmt.Fprintf(&b, "- **%s**: %s\n", s, e)
		}
		b.WriteString("\n")
	}
	if len(r.Plots) > 0 {
		b.WriteString("## Plots\n\n")
		for _, p := range r.Plots {
			fmt.Fprintf(&b, "![%s](%s)\n\n", strings.TrimSuffix(p, ".png"), p)
		}
	}
	return os.WriteFile(filepath.Join(dir, "report.md"), []byte(b.String()), 0o644)
}

func metWord(met *bool) string {
	switch {
	case met == nil:
		return "not measured"
	case *met:
		return "met"
	}
	return "**NOT MET**"
}

// runsTable renders runs side by side: rate, counts, latency, resources.
func runsTable(b *strings.Builder, runs ...*runStats) {
	b.WriteString("| run | mode | conns | intended/s | sent | answered | errors | answered/s | MB/s | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms | service p99 ms | server CPU cores | server RSS MB | generator CPU cores | other CPU cores |\n")
	b.WriteString("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n")
	for _, r := range runs {
		if r == nil {
			continue
		}
		name := r.Name
		if r.GeneratorBound {
			name += " ⚠ generator-bound"
		}
		rate := "max"
		if r.IntendedRate > 0 {
			rate = fmt.Sprintf("%.0f", r.IntendedRate)
		}
		fmt.Fprintf(b, "| %s | %s | %d | %s | %d | %d | %s | %.0f | %.1f | %.3f | %.3f | %.3f | %.3f | %.3f | %.3f | %.2f | %.0f | %.2f | %.2f |\n",
			name, r.Mode, r.Conns, rate, r.Sent, r.Answered, errorsCell(r), r.Throughput, r.MBps,
			r.Latency.P50, r.Latency.P90, r.Latency.P99, r.Latency.P999, r.Latency.Max, r.Service.P99,
			r.Server.CPUCores, r.Server.RSSPeakMB, r.Generator.CPUCores, r.OtherCPUCores)
	}
	b.WriteString("\nOpen-loop latency (p50…max) is measured from each request's intended send time, service p99 from the actual send; " +
		"closed-loop runs measure capacity. \"other CPU\" is what the rest of the machine used meanwhile; " +
		"⚠ generator-bound marks a run where the load generator used ≥90% of its CPUs.\n\n")
}

func errorsCell(r *runStats) string {
	s := strconv.FormatInt(r.Errors, 10)
	for k, v := range r.ErrorsByKind {
		s += fmt.Sprintf(" %s:%d", k, v)
	}
	if r.Unsent > 0 {
		s += fmt.Sprintf(" (unsent %d)", r.Unsent)
	}
	return s
}
