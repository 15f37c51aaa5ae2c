// Command chaos runs the fault-injection scenarios (make chaos): each
// scenario is one or more real tests, run with -race and -json, and the
// run prints one line per scenario and writes a report (Markdown and
// JSON) to -out. A scenario the suite does not build yet is listed as
// "not built" and makes the run fail, so the report never claims more
// than exists.
//
//	go run ./internal/chaos [-out bench/results/chaos] [-run regexp]
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// scenario is one fault the issue names and the tests that check it.
type scenario struct {
	Name  string `json:"name"`
	Fault string `json:"fault"`
	Pass  string `json:"pass"`
	// Tests are "package:TestName"; none: not built yet.
	Tests []string `json:"tests"`
}

var scenarios = []scenario{
	{"leader-loss-publishes", "origin leader stopped or isolated while publishes are in flight (in-process raft, and porcupine-checked partitions)",
		"no acknowledged publish lost; the history is linearizable; a new leader serves",
		[]string{"./origin:TestCluster_ReplicatesAndSurvivesLeaderLoss", "./origin:TestCluster_PublishesUnderPartitionsAreLinearizable", "./localcluster:TestCluster_IsolatedLeaderIsReplaced"}},
	{"leader-kill9-64-publishes", "`kill -9` of the leader process during 64 in-flight publishes, 20 times", "0 acknowledged lost, 0 duplicates, write gap reported", []string{"./cmd/aloft:TestChaos_LeaderKill9During64Publishes"}},
	{"origins-down", "every origin stopped", "edges answer checks from the signed catalog, a restarted edge serves from disk, uncached downloads get 503 + Retry-After, stats spool and arrive once",
		[]string{"./edge:TestRemoteOrigin_EdgeServesWhileOriginDown", "./edge:TestSync_RestartFromDiskWithOriginDown", "./cmd/aloft:TestBinary_SpoolSurvivesKill9"}},
	{"expired-catalog", "no fresh signature for longer than the state's expiry", "/readyz fails and checks answer failed + Retry-After", []string{"./edge:TestSync_ExpiredStateStopsReadiness"}},
	{"edge-cut-from-origin", "an edge that cannot reach the origin but gossips with its region", "it converges through gossip, verifying what peers offer", []string{"./edge:TestGossip_CutOffEdgeConverges", "./edge:TestGossip_EdgeWithSilentOriginConverges"}},
	{"forged-states", "forged, older or expired catalog states offered by a peer", "refused; the served index never goes back", []string{"./edge:TestSync_PeerCannotForgeOrRollBack"}},
	{"foreign-gossip", "an unencrypted, wrongly keyed or wrongly labelled gossip peer", "cannot join", []string{"./gossip:TestForeignNodesCannotJoin"}},
	{"gossip-member-death", "an edge killed without leaving, then restarted", "dropped from the ring, rejoins", []string{"./gossip:TestKilledMemberDropsOutAndRejoins", "./gossip:TestRejoinHealsAfterSeedRestart"}},
	{"gossip-packet-loss", "packet loss on gossip (iptables statistic in a network namespace)", "no false deaths; convergence within the stated bound, also with a member hung", []string{"./cmd/aloft:TestChaos_GossipPacketLoss", "./edge:TestGossip_CutOffEdgePullsWhenGossipIsSilent"}},
	{"stampede", "hundreds of concurrent requests for one cold object, at one edge and across a region", "one blob-store fetch (the owner's)",
		[]string{"./cache:TestGet_StampedeFetchesOnce", "./edge:TestPeerFill_StampedeOneEdge", "./edge:TestPeerFill_RegionStampede"}},
	{"corrupt-objects", "bytes flipped in the blob store, a corrupt peer, a truncated stream", "nothing corrupt cached or served; the stream is cut before its last byte",
		[]string{"./blobstore:TestStore_Open_CorruptObjectFailsNamingIt", "./origin:TestGetBlob_CorruptObject_TransferCut", "./edge:TestPeerFill_CorruptOwnerNothingCached", "./cache:TestStream_CorruptIsCutBeforeItsLastByte"}},
	{"s3-slow-truncating", "S3 slowed and truncated through toxiproxy", "fetches bounded; nothing truncated cached", []string{"./cmd/aloft:TestChaos_S3SlowAndTruncating"}},
	{"full-cluster-restart", "every origin and the edge killed with SIGKILL at once during 64 publishes, then restarted", "the catalog equals the acknowledged set", []string{"./cmd/aloft:TestChaos_FullClusterCrash", "./dev:TestRestartKeepsState", "./cmd/aloft:TestBinary_ThreeOriginCluster"}},
	{"rolling-upgrade", "every origin and edge replaced one at a time under the bench fleet", "no failed check, no lost publish", []string{"./cmd/aloft:TestChaos_RollingUpgrade", "./edge:TestReady_OverloadedThenDraining", "./cmd/aloft:TestBinary_DrainOnSignal", "./origin:TestFeed_StopReleasesLongPolls"}},
	{"dns-failover", "an edge killed, then a whole region unready, behind CoreDNS's geoip answers (geodns and make cluster)", "its clients get the next ready edge, then the next region, within seconds; make cluster-down leaves nothing",
		[]string{"./geodns:TestGeoDNS_FailoverWithRealCoreDNS", "./geodns:TestGeoDNS_DiscoversEdgesFromTheOrigin", "./deploy/cluster:TestMakeCluster_UpFailoverDown"}},
	{"join-flood", "hundreds of idle and garbage gossip streams and a UDP flood from one address", "members still converge; the excess is refused; the log stays bounded", []string{"./gossip:TestJoinFlood"}},
	{"proxy-smuggling", "ambiguous framings and Host confusion, direct and through the documented nginx block", "refused or answered once; no request smuggled past the proxy; no answer leaks another's", []string{"./cmd/aloft:TestHostile_SmugglingAndHostConfusion"}},
	{"hostile-clients", "descriptor floods, slow bodies, spoofed hosts, hostile uploads", "clear errors, no crash, no leak", []string{"./cmd/aloft:TestHostile_DescriptorFlood", "./cmd/aloft:TestHostile_SlowBodies", "./cmd/aloft:TestHostile_NoEchoNoSpoof", "./dev:TestHostileUploads"}},
	{"region-rate-limits", "one device, or one app's fleet, spreading checks and stats over a region's edges", "refused once the region's total passes the limit; other regions unaffected", []string{"./edge:TestRegion_RateLimitSharedOverGossip", "./edge:TestNode_AppRateLimited"}},
}

// result is one scenario's outcome.
type result struct {
	scenario
	Status  string   `json:"status"` // pass, fail, not built
	Seconds float64  `json:"seconds"`
	Failed  []string `json:"failed,omitempty"`
	Figures []string `json:"figures,omitempty"` // test log lines "figure: …"
	Series  []series `json:"series,omitempty"`  // test log lines "series: …", plotted
	// Logs is each failed test's output, written beside the report.
	Logs []string `json:"-"`
}

func main() {
	out := flag.String("out", "bench/results/chaos", "report directory")
	only := flag.String("run", "", "regexp: run only the scenarios whose name matches")
	flag.Parse()
	var re *regexp.Regexp
	if *only != "" {
		re = regexp.MustCompile(*only)
	}
	var results []result
	failed := 0
	for _, s := range scenarios {
		if re != nil && !re.MatchString(s.Name) {
			continue
		}
		r := run(s)
		results = append(results, r)
		if r.Status != "pass" {
			failed++
		}
		fmt.Printf("%-26s %-9s %6.1fs  %s\n", r.Name, r.Status, r.Seconds, strings.Join(r.Failed, ", "))
		if len(r.Logs) > 0 {
			fmt.Printf("%-26s output: %s\n", "", filepath.Join(*out, r.Name+".failed.log"))
		}
	}
	if err := write(*out, results); err != nil {
		fmt.Fprintln(os.Stderr, "chaos:", err)
		os.Exit(1)
	}
	fmt.Printf("report: %s\n", filepath.Join(*out, "report.md"))
	if failed > 0 {
		fmt.Printf("%d of %d scenarios failed or are not built\n", failed, len(results))
		os.Exit(1)
	}
}

// run runs a scenario's tests, one `go test` per package.
func run(s scenario) result {
	r := result{scenario: s}
	if len(s.Tests) == 0 {
		r.Status = "not built"
		return r
	}
	byPkg := map[string][]string{}
	var pkgs []string
	for _, t := range s.Tests {
		pkg, name, _ := strings.Cut(t, ":")
		if byPkg[pkg] == nil {
			pkgs = append(pkgs, pkg)
		}
		byPkg[pkg] = append(byPkg[pkg], name)
	}
	start := time.Now()
	r.Status = "pass"
	for _, pkg := range pkgs {
		names := byPkg[pkg]
		cmd := exec.Command("go", "test", "-race", "-count=1", "-json", "-timeout", "10m", "-run", "^("+strings.Join(names, "|")+")$", pkg)
		cmd.Env = append(os.Environ(), "ALOFT_CHAOS_FULL=1") // scenarios sized for `make test` run at full size here
		var stdout bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, os.Stderr
		_ = cmd.Run() // judged by the tests' own events below
		passed := map[string]bool{}
		output := map[string][]string{} // by test, for the failure log
		sc := bufio.NewScanner(&stdout)
		sc.Buffer(make([]byte, 1<<20), 1<<24)
		for sc.Scan() {
			var ev struct{ Action, Test, Output string }
			if json.Unmarshal(sc.Bytes(), &ev) != nil {
				continue
			}
			if ev.Action == "pass" && ev.Test != "" {
				passed[ev.Test] = true
			}
			if ev.Action == "output" {
				top, _, _ := strings.Cut(ev.Test, "/")
				output[top] = append(output[top], ev.Output)
				if _, fig, ok := strings.Cut(ev.Output, "figure: "); ok {
					r.Figures = append(r.Figures, strings.TrimSpace(fig))
				}
				if _, sr, ok := strings.Cut(ev.Output, "series: "); ok {
					if s, ok := parseSeries(sr); ok {
						r.Series = append(r.Series, s)
					}
				}
			}
		}
		for _, n := range names {
			// A test that does not exist "passes" an empty run, so only
			// a pass event counts; err alone may be another test's.
			if !passed[n] {
				r.Failed = append(r.Failed, pkg+":"+n)
				r.Status = "fail"
				r.Logs = append(r.Logs, fmt.Sprintf("=== %s:%s\n%s", pkg, n, strings.Join(output[n], "")))
			}
		}
	}
	r.Seconds = time.Since(start).Seconds()
	return r
}

// write saves the report as JSON and Markdown.
func write(dir string, results []result) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	// Plots and failure logs of an earlier run would otherwise stay
	// beside a report that no longer names them.
	for _, pat := range []string{"*.svg", "*.failed.log"} {
		old, _ := filepath.Glob(filepath.Join(dir, pat))
		for _, f := range old {
			if err := os.Remove(f); err != nil {
				return err
			}
		}
	}
	j, _ := json.MarshalIndent(map[string]any{"when": time.Now().UTC().Format(time.RFC3339), "scenarios": results}, "", "  ")
	if err := os.WriteFile(filepath.Join(dir, "report.json"), append(j, '\n'), 0o644); err != nil {
		return err
	}
	var md strings.Builder
	fmt.Fprintf(&md, "# Fault scenarios (`make chaos`)\n\nRun %s. Rerun: `make chaos` (or `go run ./internal/chaos -run NAME`).\n\n", time.Now().UTC().Format(time.RFC3339))
	md.WriteString("| scenario | fault | pass condition | status | s | tests |\n| --- | --- | --- | --- | --- | --- |\n")
	for _, r := range results {
		tests := strings.Join(r.Tests, "<br>")
		if tests == "" {
			tests = "—"
		}
		fmt.Fprintf(&md, "| %s | %s | %s | **%s** | %.1f | %s |\n", r.Name, r.Fault, r.Pass, r.Status, r.Seconds, tests)
	}
	for _, r := range results {
		if len(r.Logs) > 0 {
			name := r.Name + ".failed.log"
			if err := os.WriteFile(filepath.Join(dir, name), []byte(strings.Join(r.Logs, "\n")), 0o644); err != nil {
				return err
			}
			fmt.Fprintf(&md, "\n**%s failed**: its tests' output is in [%s](%s).\n", r.Name, name, name)
		}
	}
	md.WriteString("\n## Figures\n")
	for _, r := range results {
		if len(r.Figures) == 0 && len(r.Series) == 0 {
			continue
		}
		fmt.Fprintf(&md, "\n### %s\n\n", r.Name)
		for _, f := range r.Figures {
			fmt.Fprintf(&md, "- %s\n", f)
		}
		for _, s := range r.Series {
			name := r.Name + "-" + slug(s.Name) + ".svg"
			if err := os.WriteFile(filepath.Join(dir, name), s.svg(), 0o644); err != nil {
				return err
			}
			fmt.Fprintf(&md, "\n![%s](%s)\n", s.Name, name)
		}
	}
	return os.WriteFile(filepath.Join(dir, "report.md"), []byte(md.String()), 0o644)
}
