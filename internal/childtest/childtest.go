// Package childtest starts the real servers the tests run against
// (versitygw, toxiproxy-server) as children on a free loopback port:
// retried on another port when the one found is taken before the child
// binds it, waited for until it answers, and stopped with SIGTERM (then
// killed) when the test ends.
package childtest

import (
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// Output is where a child writes, read back for failure messages.
type Output interface {
	io.Writer
	String() string
}

// Spec is one child.
type Spec struct {
	Name string                  // in messages
	Bin  string                  // the program
	Args func(port int) []string // its arguments, listening on port
	Env  []string                // added to the test's environment
	Out  Output                  // its stdout and stderr
	// Ready reports the child serving on port; polled every 20 ms.
	Ready   func(port int) bool
	Timeout time.Duration // to start, and to stop before it is killed
}

// Start runs s until the test ends and returns its port. The port is
// found by binding and releasing it; another process may take it in
// between, so a start that fails is tried again, three times in all.
func Start(t testing.TB, s Spec) int {
	t.Helper()
	var last error
	for range 3 {
		port, err := start(t, s)
		if err == nil {
			return port
		}
		last = err
	}
	t.Fatalf("%s: %v", s.Name, last)
	return 0
}

func start(t testing.TB, s Spec) (int, error) {
	port, err := freePort()
	if err != nil {
		return 0, err
	}
	cmd := exec.Command(s.Bin, s.Args(port)...)
	cmd.Env = append(os.Environ(), s.Env...)
	cmd.Stdout, cmd.Stderr = s.Out, s.Out
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("start %s: %w", s.Bin, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	if err := waitReady(s, port, exited); err != nil {
		_ = cmd.Process.Kill()
		<-exited
		return 0, fmt.Errorf("%w; its output:\n%s", err, s.Out.String())
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(s.Timeout):
			_ = cmd.Process.Kill()
			<-exited
			t.Errorf("%s did not stop within %v; killed. Output:\n%s", s.Name, s.Timeout, s.Out.String())
		}
	})
	return port, nil
}

func waitReady(s Spec, port int, exited <-chan error) error {
	deadline := time.Now().Add(s.Timeout)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for time.Now().Before(deadline) {
		if s.Ready(port) {
			// Another process may hold the port and answer for a child
			// that failed to bind it: ours must still be running.
			select {
			case err := <-exited:
				return fmt.Errorf("%s exited while the port answered (taken by another process?): %v", s.Name, err)
			default:
				return nil
			}
		}
		select {
		case err := <-exited:
			return fmt.Errorf("%s exited before answering: %v", s.Name, err)
		case <-tick.C:
		}
	}
	return fmt.Errorf("%s did not answer on port %d within %v", s.Name, port, s.Timeout)
}

// freePort finds a loopback TCP port nothing listens on now.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
