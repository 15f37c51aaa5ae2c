// Child processes: building the binaries under test with `go build`,
// starting them on loopback, and reading their CPU time and RSS from /proc.

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// moduleRoot finds the repository root from the working directory, so the
// harness works both from `go run ./bench` and from `go test` in bench/.
func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("bench: run from inside the aloft module")
	}
	return filepath.Dir(mod), nil
}

// goBuild builds pkg (for example "./cmd/aloft") into dir and returns the
// binary's path.
func goBuild(ctx context.Context, root, pkg, dir string) (string, error) {
	bin := filepath.Join(dir, filepath.Base(pkg))
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, pkg)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build %s: %w\n%s", pkg, err, out)
	}
	return bin, nil
}

// child is a process the harness started and must stop.
type child struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
	err  error
}

// startChild starts bin with args, its output going to logPath. The child
// dies with the harness (Pdeathsig), so an interrupted run leaves nothing
// listening.
func startChild(name, bin, logPath string, args ...string) (*child, error) {
	return startChildEnv(name, nil, bin, logPath, args...)
}

// startChildEnv is startChild with env added to the harness's own
// environment.
func startChildEnv(name string, env []string, bin, logPath string, args ...string) (*child, error) {
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	if env != nil {
		cmd.Env = append(os.Environ(), env...)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	c := &child{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() {
		c.err = cmd.Wait()
		logf.Close()
		close(c.done)
	}()
	return c, nil
}

func (c *child) pid() int { return c.cmd.Process.Pid }

// exited reports whether the child has already stopped.
func (c *child) exited() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// stop asks the child to exit (SIGTERM, or sig if given), and kills it if
// it has not within five seconds.
func (c *child) stop() {
	if c == nil || c.exited() {
		return
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(5 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.done
	}
}

// tail returns the end of the child's log, for error messages.
func (c *child) tail() string {
	b, _ := os.ReadFile(c.log)
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}

// waitReadyFile polls until path holds a JSON document decoding into out,
// the child exits, or the timeout passes.
func waitReadyFile(c *child, path string, out any, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		if b, err := os.ReadFile(path); err == nil && len(b) > 0 && json.Unmarshal(b, out) == nil {
			return nil
		}
		if c.exited() {
			return fmt.Errorf("%s exited before it was ready: %v\n%s", c.name, c.err, c.tail())
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready after %s\n%s", c.name, timeout, c.tail())
		}
		select {
		case <-c.done:
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// procSample is one reading of a process tree.
type procSample struct {
	cpu time.Duration // user + system time so far
	rss int64         // bytes
}

// clockTick is USER_HZ, the unit of utime/stime in /proc/<pid>/stat; it is
// 100 on every Linux architecture Go supports.
const clockTick = 10 * time.Millisecond

// readProc reads pid and, with tree, its direct children (nginx's
// workers are children of its master). The harness itself is read without
// its children: they are the servers under test. A process that vanished
// reads as zero.
func readProc(pid int, tree bool) procSample {
	s := readOne(pid)
	if !tree {
		return s
	}
	for _, c := range childPIDs(pid) {
		cs := readOne(c)
		s.cpu += cs.cpu
		s.rss += cs.rss
	}
	return s
}

func readOne(pid int) procSample {
	var s procSample
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return s
	}
	// The command name may hold spaces; fields count from after its ")".
	if i := bytes.LastIndexByte(stat, ')'); i >= 0 {
		f := strings.Fields(string(stat[i+1:]))
		if len(f) > 12 {
			ut, _ := strconv.ParseInt(f[11], 10, 64)
			st, _ := strconv.ParseInt(f[12], 10, 64)
			s.cpu = time.Duration(ut+st) * clockTick
		}
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return s
	}
	s.rss, _ = statusBytes(status, "VmRSS")
	return s
}

// statusBytes reads one "Field:   N kB" line of /proc/<pid>/status
// (VmRSS, VmHWM, …) in bytes; ok is false when the field is missing or
// malformed (a kernel thread has no Vm lines).
func statusBytes(status []byte, field string) (n int64, ok bool) {
	for _, line := range strings.Split(string(status), "\n") {
		rest, found := strings.CutPrefix(line, field+":")
		if !found {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			return 0, false
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil || kb < 0 {
			return 0, false
		}
		return kb << 10, true
	}
	return 0, false
}

// childPIDs lists the direct children of pid's main thread, which for a
// single-threaded nginx master are all of its workers.
func childPIDs(pid int) []int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
	if err != nil {
		return nil
	}
	var out []int
	for _, f := range strings.Fields(string(b)) {
		if n, err := strconv.Atoi(f); err == nil {
			out = append(out, n)
		}
	}
	return out
}

// usage is what a process used during one run.
type usage struct {
	PID int `json:"pid"`
	// CPUCores is CPU time over wall time: 1.0 is one core busy.
	CPUCores   float64 `json:"cpu_cores"`
	CPUSeconds float64 `json:"cpu_s"`
	RSSPeakMB  float64 `json:"rss_peak_mb"`
	RSSEndMB   float64 `json:"rss_end_mb"`
}

// meter samples one process (tree)'s RSS every 100 ms between start and
// end.
type meter struct {
	pid   int
	tree  bool
	t0    time.Time
	first procSample
	peak  int64
	stop  chan struct{}
	done  chan struct{}
}

// startMeter meters a server under test (with its children).
func startMeter(pid int) *meter { return newMeter(pid, true) }

// selfMeter meters the harness alone: the load generator.
func selfMeter() *meter { return newMeter(os.Getpid(), false) }

func newMeter(pid int, tree bool) *meter {
	m := &meter{pid: pid, tree: tree, t0: time.Now(), first: readProc(pid, tree), stop: make(chan struct{}), done: make(chan struct{})}
	m.peak = m.first.rss
	go func() {
		defer close(m.done)
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-m.stop:
				return
			case <-t.C:
				m.peak = max(m.peak, readProc(pid, tree).rss)
			}
		}
	}()
	return m
}

// end stops sampling and returns the usage since start.
func (m *meter) end() usage {
	close(m.stop)
	<-m.done
	last := readProc(m.pid, m.tree)
	wall := time.Since(m.t0).Seconds()
	cpu := (last.cpu - m.first.cpu).Seconds()
	u := usage{PID: m.pid, CPUSeconds: round3(cpu), RSSPeakMB: mb(max(m.peak, last.rss)), RSSEndMB: mb(last.rss)}
	if wall > 0 {
		u.CPUCores = round3(cpu / wall)
	}
	return u
}

func mb(b int64) float64 { return round3(float64(b) / (1 << 20)) }
