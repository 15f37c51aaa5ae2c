// Run options: flags, and the quick and full presets they start from.

package main

import (
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// allScenarios in the order they run.
func allScenarios() []string {
	return []string{"checkins", "downloads", "release", "stats", "propagation", "sync", "region", "cluster"}
}

// options sizes a run. Every count and duration is bounded, so a run stops
// by itself.
type options struct {
	out       string
	quick     bool
	scenarios []string
	aloftBin  string   // a prebuilt aloft binary; empty builds one
	edges     []string // extra edge base URLs for propagation
	// spawnEdges is how many `aloft edge` processes propagation starts.
	spawnEdges int
	seed       uint64
	bundleMB   float64 // zip size of the release/download bundle, MB (10^6)
	pin        bool    // servers and generator on separate CPUs (cpu.go)
	turns      int     // interleaved turns per comparison (turns.go)

	devices   int           // checkins/stats fleet size
	peakConns int           // connections of closed-loop capacity runs
	peakDur   time.Duration // each capacity run
	openConns int           // worker bound of open-loop runs
	steadyDur time.Duration // each open-loop latency run
	// checkRate fixes the open-loop check rate; 0 means half of Aloft's
	// measured peak, as the goal is stated.
	checkRate float64

	dlConns int
	dlDur   time.Duration

	relDevices int
	relRate    float64       // fleet checks per second during release
	relPre     time.Duration // checks before the publish
	relMax     time.Duration // give up waiting for adoption after this
	relDLConns int           // devices downloading at once

	statsDur      time.Duration
	statsBatchMax int     // largest stats array
	statsPerCheck float64 // stats events per update check during the flood

	propChanges int
	propTimeout time.Duration

	// cluster: publishes per target, concurrent catalog writers and the
	// length of each target's write run (split into turns), leader-kill
	// trials, and the zip size of the memory figure's bundle (MB, 10^6).
	clusterPublishes int
	clusterWriters   int
	clusterWriteDur  time.Duration
	killTrials       int
	largeMB          float64

	// sync: the edge counts propagation is measured at, changes per
	// count, channel moves and new bundles the wire proxy counts, the idle
	// window, and the large catalog (on or off, its shape, the small
	// catalog beside it, the blob pool, seeding writers, and how long a
	// fresh edge may take to sync it).
	syncEdges        []int
	syncChanges      int
	syncMoves        int
	syncNewBundles   int
	syncIdle         time.Duration
	syncBig          bool
	syncApps         int
	syncSmallApps    int
	syncChannels     int
	syncBundles      int
	syncFiles        int
	syncPool         int
	syncSeedWorkers  int
	syncFirstSyncMax time.Duration

	// region: apps (one zip each, sizes drawn between the two bounds, in
	// bytes), downloads and their connections, edges per run, the Zipf
	// exponent, each edge's cache as a share of the working set, and the
	// time bound of each run's downloads.
	regionApps       int
	regionRequests   int
	regionConns      int
	regionEdges      int
	regionZipfS      float64
	regionCacheShare float64
	regionMinBytes   int
	regionMaxBytes   int
	regionMaxDur     time.Duration
}

// quickOptions: under five minutes on 2 cores, build included.
func quickOptions() options {
	return options{
		quick: true, scenarios: allScenarios(), seed: 1, bundleMB: 5.25, pin: true, turns: 5,
		devices: 5000, peakConns: 32, peakDur: 5 * time.Second, openConns: 128, steadyDur: 10 * time.Second,
		dlConns: 8, dlDur: 5 * time.Second,
		relDevices: 400, relRate: 400, relPre: 2 * time.Second, relMax: 30 * time.Second, relDLConns: 32,
		statsDur: 8 * time.Second, statsBatchMax: 50, statsPerCheck: 4,
		propChanges: 20, propTimeout: 10 * time.Second, spawnEdges: 3,
		clusterPublishes: 8, clusterWriters: 8, clusterWriteDur: 2 * time.Second, killTrials: 3, largeMB: 200,
		syncEdges: []int{3, 10}, syncChanges: 20, syncMoves: 10, syncNewBundles: 3, syncIdle: time.Minute,
		syncApps: 1000, syncSmallApps: 10, syncChannels: 5, syncBundles: 50, syncFiles: 100, syncPool: 20,
		syncSeedWorkers: 16, syncFirstSyncMax: 5 * time.Minute,
		regionApps: 60, regionRequests: 20_000, regionConns: 4, regionEdges: 3, regionZipfS: 1.1, regionCacheShare: 0.3,
		regionMinBytes: 32 << 10, regionMaxBytes: 160 << 10, regionMaxDur: 2 * time.Minute,
	}
}

// fullOptions: the default, longer run (about 5 minutes on 2 cores).
func fullOptions() options {
	o := quickOptions()
	o.quick = false
	o.devices, o.peakDur, o.steadyDur = 100_000, 15*time.Second, 30*time.Second
	o.dlDur = 15 * time.Second
	o.relDevices, o.relRate, o.relMax = 2000, 1000, 120*time.Second
	o.statsDur, o.turns = 30*time.Second, 10
	o.clusterPublishes, o.clusterWriters, o.clusterWriteDur, o.killTrials = 30, 16, 10*time.Second, 5
	o.syncEdges, o.syncMoves, o.syncNewBundles, o.syncIdle, o.syncBig = []int{3, 10, 50}, 20, 5, 3*time.Minute, true
	return o
}

// parseOptions reads flags; -quick picks the quick preset and explicit
// flags override either preset.
func parseOptions(args []string, stderr io.Writer) (options, error) {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	quick := fs.Bool("quick", false, "quick run (under 5 minutes on 2 cores), as `make bench` runs it")
	out := fs.String("out", "", "output directory (default bench/out/<timestamp>)")
	scen := fs.String("scenarios", strings.Join(allScenarios(), ","), "comma-separated scenarios to run")
	aloft := fs.String("aloft", "", "prebuilt aloft binary (default: go build ./cmd/aloft)")
	edges := fs.String("edges", "", "extra edge base URLs (comma-separated) that propagation must also see")
	spawn := fs.Int("spawn-edges", -1, "aloft edge processes propagation starts beside aloft dev's own edge (default 3)")
	devices := fs.Int("devices", 0, "fleet size of checkins and stats")
	dur := fs.Duration("duration", 0, "length of each open-loop latency run")
	rate := fs.Float64("check-rate", 0, "open-loop check rate (default: half of Aloft's measured peak)")
	relDevices := fs.Int("release-devices", 0, "fleet size of release")
	bundleMB := fs.Float64("bundle-mb", 0, "zip size of the download/release bundle in MB")
	pin := fs.Bool("pin", true, "run the servers and the load generator on separate halves of the CPUs")
	perCheck := fs.Float64("stats-per-check", 0, "stats events per update check in the stats flood (default 4)")
	publishes := fs.Int("publishes", 0, "cluster: publishes of the bundle per target (default 8, 30 in the full run)")
	writers := fs.Int("cluster-writers", 0, "cluster: concurrent catalog writers (default 8, 16 in the full run)")
	writeDur := fs.Duration("cluster-writes", 0, "cluster: length of each target's catalog write run, split into turns (default 2s, 10s in the full run)")
	kills := fs.Int("kill-trials", 0, "cluster: leader kill -9 trials (default 3, 5 in the full run)")
	largeMB := fs.Float64("large-mb", 0, "cluster: zip size in MB of the bundle whose upload and download the RSS figure watches (default 200)")
	syncEdges := fs.String("sync-edges", "", "sync: comma-separated counts of aloft edge processes propagation is measured at (default 3,10; 3,10,50 in the full run)")
	syncChanges := fs.Int("sync-changes", 0, "sync: channel changes per propagation series (default 20)")
	syncIdle := fs.Duration("sync-idle", 0, "sync: idle window the wire proxy counts (default 1m, 3m in the full run)")
	syncBig := fs.Bool("sync-big", false, "sync: also measure the large catalog (on in the full run; several minutes)")
	syncApps := fs.Int("sync-apps", 0, "sync: apps of the large catalog (default 1000)")
	regionApps := fs.Int("region-apps", 0, "region: apps, one zip of 32–160 KiB each (default 60)")
	regionRequests := fs.Int("region-requests", 0, "region: Zipf-distributed downloads per run (default 20000)")
	regionShare := fs.Float64("region-cache-share", 0, "region: each edge's cache as a share of the working set (default 0.3)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: go run ./bench [flags]\n\nLoad-tests aloft dev against baselines measured in the same run.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return options{}, err
	}
	o := fullOptions()
	if *quick {
		o = quickOptions()
	}
	o.out, o.aloftBin, o.checkRate, o.pin = *out, *aloft, *rate, *pin
	o.scenarios = splitList(*scen)
	for _, s := range o.scenarios {
		if !slices.Contains(allScenarios(), s) {
			return options{}, fmt.Errorf("unknown scenario %q (have %s)", s, strings.Join(allScenarios(), ", "))
		}
	}
	o.edges = splitList(*edges)
	if *spawn >= 0 {
		o.spawnEdges = *spawn
	}
	if *devices > 0 {
		o.devices = *devices
	}
	if *dur > 0 {
		o.steadyDur = *dur
	}
	if *relDevices > 0 {
		o.relDevices = *relDevices
	}
	if *perCheck > 0 {
		o.statsPerCheck = *perCheck
	}
	if *bundleMB > 0 {
		o.bundleMB = *bundleMB
	}
	if *publishes > 0 {
		o.clusterPublishes = *publishes
	}
	if *writers > 0 {
		o.clusterWriters = *writers
	}
	if *writeDur > 0 {
		o.clusterWriteDur = *writeDur
	}
	if *kills > 0 {
		o.killTrials = *kills
	}
	if *largeMB > 0 {
		o.largeMB = *largeMB
	}
	if err := o.syncFlags(fs, *syncEdges, *syncChanges, *syncIdle, *syncBig, *syncApps); err != nil {
		return options{}, err
	}
	if err := o.regionFlags(*regionApps, *regionRequests, *regionShare); err != nil {
		return options{}, err
	}
	if o.out == "" {
		o.out = filepath.Join("bench", "out", time.Now().UTC().Format("20060102-150405"))
	}
	return o, nil
}

// syncFlags applies the sync scenario's flags; -sync-big counts only
// when given, so either preset's default stands otherwise.
func (o *options) syncFlags(fs *flag.FlagSet, edges string, changes int, idle time.Duration, big bool, apps int) error {
	if edges != "" {
		o.syncEdges = nil
		for _, e := range splitList(edges) {
			n, err := strconv.Atoi(e)
			if err != nil || n < 1 {
				return fmt.Errorf("-sync-edges: %q is not a positive count", e)
			}
			o.syncEdges = append(o.syncEdges, n)
		}
		slices.Sort(o.syncEdges)
		o.syncEdges = slices.Compact(o.syncEdges)
	}
	if changes > 0 {
		o.syncChanges = changes
	}
	if idle > 0 {
		o.syncIdle = idle
	}
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "sync-big" {
			o.syncBig = big
		}
	})
	if apps > 0 {
		o.syncApps = apps
	}
	if o.syncBundles < 2*o.syncChannels {
		return fmt.Errorf("sync: %d bundles per app cannot give %d channels two bundles each", o.syncBundles, o.syncChannels)
	}
	return nil
}

// regionFlags applies the region scenario's flags and checks what the
// Zipf draw needs: two apps or more (the picks are 16-bit) and s > 1.
func (o *options) regionFlags(apps, requests int, share float64) error {
	if apps > 0 {
		o.regionApps = apps
	}
	if requests > 0 {
		o.regionRequests = requests
	}
	if share > 0 {
		o.regionCacheShare = share
	}
	switch {
	case o.regionApps < 2 || o.regionApps > 1<<16:
		return fmt.Errorf("-region-apps: %d is not between 2 and 65536", o.regionApps)
	case o.regionZipfS <= 1:
		return fmt.Errorf("region: Zipf exponent %v must exceed 1", o.regionZipfS)
	case o.regionMinBytes < 4<<10 || o.regionMaxBytes < o.regionMinBytes:
		return fmt.Errorf("region: zip sizes %d–%d bytes", o.regionMinBytes, o.regionMaxBytes)
	}
	return nil
}

func splitList(s string) []string {
	var out []string
	for _, x := range strings.Split(s, ",") {
		if x = strings.TrimSpace(x); x != "" {
			out = append(out, x)
		}
	}
	return out
}

func (o options) has(s string) bool { return slices.Contains(o.scenarios, s) }
