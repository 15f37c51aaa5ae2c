// Entry point: flags → options → harness → scenarios → report.

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"
)

func main() {
	os.Exit(realMain(os.Args[1:]))
}

func realMain(args []string) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	opts, err := parseOptions(args, os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 2
	}
	rep, err := runBench(ctx, opts, "go run ./bench "+strings.Join(args, " "), os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 1
	}
	fmt.Printf("\nReport: %s\n", filepath.Join(opts.out, "report.md"))
	for _, g := range rep.Goals {
		fmt.Printf("  %-13s %s — %s\n", metWord(g.Met), g.Goal, g.Measured)
	}
	if len(rep.Errors) > 0 {
		return 1
	}
	return 0
}

// runBench runs the selected scenarios and writes the report to opts.out.
// A failing scenario is recorded in the report and the others still run.
func runBench(ctx context.Context, opts options, command string, logw io.Writer) (*report, error) {
	started := time.Now()
	if err := os.MkdirAll(opts.out, 0o755); err != nil {
		return nil, err
	}
	h, err := newHarness(ctx, opts, logw)
	if err != nil {
		return nil, err
	}
	defer h.close()
	rep := &report{Errors: map[string]string{}}
	rep.Meta = meta{Started: started.UTC().Format(time.RFC3339), Command: strings.TrimSpace(command), Quick: opts.quick,
		Scenarios: opts.scenarios, Machine: describeMachine(), Go: runtime.Version(), Commit: commitOf(h.root), Nginx: nginxVersion(),
		Placement: h.placement}
	for _, s := range allScenarios() {
		if !opts.has(s) {
			continue
		}
		if ctx.Err() != nil {
			rep.Errors[s] = "interrupted before it ran"
			continue
		}
		t0 := time.Now()
		if err := rep.run(ctx, h, s); err != nil {
			rep.Errors[s] = err.Error()
			h.logf("%s failed: %v", s, err)
			continue
		}
		h.logf("%s done in %s", s, time.Since(t0).Round(time.Millisecond))
	}
	h.saveLogs(filepath.Join(opts.out, "logs"))
	if h.aloft != nil && h.aloft.exited() {
		rep.Errors["aloft"] = fmt.Sprintf("aloft dev exited during the run: %v\n%s", h.aloft.err, h.aloft.tail())
	}
	rep.Goals = evaluateGoals(rep)
	rep.Meta.DurationS = round3(time.Since(started).Seconds())
	if rep.Plots, err = writePlots(opts.out, rep); err != nil {
		return rep, err
	}
	if err := writeJSON(opts.out, rep); err != nil {
		return rep, err
	}
	return rep, writeMarkdown(opts.out, rep)
}

// run runs one scenario and stores its result.
func (r *report) run(ctx context.Context, h *harness, scenario string) error {
	var err error
	switch scenario {
	case "checkins":
		r.Checkins, err = runCheckins(ctx, h)
	case "downloads":
		r.Downloads, err = runDownloads(ctx, h)
	case "release":
		r.Release, err = runRelease(ctx, h)
	case "stats":
		r.Stats, err = runStatsFlood(ctx, h)
	case "propagation":
		r.Propagation, err = runPropagation(ctx, h)
	case "sync":
		r.Sync, err = runSync(ctx, h)
	case "region":
		r.Region, err = runRegion(ctx, h)
	case "cluster":
		r.Cluster, err = runCluster(ctx, h)
	default:
		err = fmt.Errorf("unknown scenario %q", scenario)
	}
	return err
}
