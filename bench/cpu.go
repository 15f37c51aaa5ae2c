// CPU placement and machine-wide CPU use. On a small machine the load
// generator and the server under test fight for the same cores, and the
// generator's own scheduling delays then show up as server latency. With
// -pin (the default when there are at least 2 CPUs) the servers — aloft,
// the bare server and nginx alike — run on the upper half of the CPUs and
// the generator on the rest, so every server gets the same cores and the
// generator cannot steal from it.

package main

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// cpuSplit is which CPUs the servers and the generator may use.
type cpuSplit struct {
	server, gen []int
}

// splitCPUs divides the CPUs this process may use; ok is false when there
// are fewer than two or taskset (util-linux) is missing.
func splitCPUs() (cpuSplit, bool) {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		return cpuSplit{}, false
	}
	var cpus []int
	for i := 0; i < 1024 && len(cpus) < set.Count(); i++ {
		if set.IsSet(i) {
			cpus = append(cpus, i)
		}
	}
	if len(cpus) < 2 {
		return cpuSplit{}, false
	}
	if _, err := exec.LookPath("taskset"); err != nil {
		return cpuSplit{}, false
	}
	half := len(cpus) / 2
	return cpuSplit{gen: cpus[:half], server: cpus[half:]}, true
}

func cpuList(cpus []int) string {
	s := make([]string, len(cpus))
	for i, c := range cpus {
		s[i] = strconv.Itoa(c)
	}
	return strings.Join(s, ",")
}

// pinSelf restricts every thread of this process to cpus. New threads
// inherit the mask of the thread that creates them, so pinning the
// existing ones (twice, to catch threads started meanwhile) covers all.
func pinSelf(cpus []int) error {
	var set unix.CPUSet
	for _, c := range cpus {
		set.Set(c)
	}
	for pass := 0; pass < 2; pass++ {
		tasks, err := os.ReadDir("/proc/self/task")
		if err != nil {
			return err
		}
		for _, t := range tasks {
			tid, err := strconv.Atoi(t.Name())
			if err != nil {
				continue
			}
			// A thread may exit between listing and pinning; that is fine.
			_ = unix.SchedSetaffinity(tid, &set)
		}
	}
	runtime.GOMAXPROCS(len(cpus))
	return nil
}

// tasksetArgs prefixes a command so it starts on cpus (empty: no change).
func tasksetArgs(cpus []int, bin string, args []string) (string, []string) {
	if len(cpus) == 0 {
		return bin, args
	}
	return "taskset", append([]string{"-c", cpuList(cpus), bin}, args...)
}

// sysCPU reads the machine's busy CPU time so far from /proc/stat.
func sysCPU() time.Duration {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	var busy int64
	for i, v := range f[1:] {
		n, _ := strconv.ParseInt(v, 10, 64)
		// Fields: user nice system idle iowait irq softirq steal guest
		// guest_nice; idle and iowait are not busy, guest time is already
		// inside user.
		if i != 3 && i != 4 && i < 8 {
			busy += n
		}
	}
	return time.Duration(busy) * clockTick
}

// otherCPU returns the cores busy with something other than the server
// and the generator during a run: other tenants of a shared machine.
func otherCPU(sysBefore time.Duration, t0 time.Time, server, gen usage) float64 {
	wall := time.Since(t0).Seconds()
	if wall <= 0 {
		return 0
	}
	all := (sysCPU() - sysBefore).Seconds() / wall
	return round3(max(0, all-server.CPUCores-gen.CPUCores))
}

func (s cpuSplit) String() string {
	return fmt.Sprintf("servers on CPU %s, generator on CPU %s", cpuList(s.server), cpuList(s.gen))
}
