// The nginx baseline: what a team would put in front of a bucket today.
// nginx (the Debian package, installed by scripts/deps.d/20-nginx.sh) runs
// as our child with a generated config in a temp dir, in the foreground,
// serving the bundle from disk with sendfile, and is killed at the end.

package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"time"
)

// ErrNoNginx means nginx is not installed; `make deps` installs it.
var ErrNoNginx = errors.New("bench: nginx not found (run `make deps`, which installs the Debian package)")

// findNginx returns the nginx binary's path.
func findNginx() (string, error) {
	if p, err := exec.LookPath("nginx"); err == nil {
		return p, nil
	}
	// Debian puts it in /usr/sbin, which a non-root PATH may lack.
	if st, err := os.Stat("/usr/sbin/nginx"); err == nil && !st.IsDir() {
		return "/usr/sbin/nginx", nil
	}
	return "", ErrNoNginx
}

// freePort asks the kernel for a free loopback port. nginx cannot report
// the port it bound, so the port is chosen here; the small window before
// nginx binds it is covered by one retry in startNginx.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// nginxConfig serves root on 127.0.0.1:port with one worker per CPU the
// servers may use (as Go's GOMAXPROCS does for Aloft); every path nginx
// writes lies in dir.
func nginxConfig(dir, root string, port, workers int) string {
	user := ""
	if os.Geteuid() == 0 {
		// As root nginx would drop workers to "nobody", who cannot read
		// our 0700 temp dirs.
		user = "user root;\n"
	}
	return fmt.Sprintf(`%sworker_processes %[5]d;
daemon off;
pid %[2]s/nginx.pid;
error_log %[2]s/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
    client_body_temp_path %[2]s/client_body;
    proxy_temp_path %[2]s/proxy;
    fastcgi_temp_path %[2]s/fastcgi;
    uwsgi_temp_path %[2]s/uwsgi;
    scgi_temp_path %[2]s/scgi;
    types { application/zip zip; }
    default_type application/octet-stream;
    server {
        listen 127.0.0.1:%[3]d;
        root %[4]s;
        location / { }
    }
}
`, user, dir, port, root, workers)
}

// startNginx serves the file at filePath as http://addr/<name> on cpus
// (all CPUs when empty) and returns the child and its address.
func startNginx(dir, filePath string, cpus []int) (*child, string, error) {
	bin, err := findNginx()
	if err != nil {
		return nil, "", err
	}
	root := filepath.Join(dir, "www")
	if err := os.MkdirAll(root, 0o755); err != nil {
		return nil, "", err
	}
	dst := filepath.Join(root, filepath.Base(filePath))
	if err := copyFile(filePath, dst); err != nil {
		return nil, "", err
	}
	var lastErr error
	for attempt := 0; attempt < 2; attempt++ {
		port, err := freePort()
		if err != nil {
			return nil, "", err
		}
		conf := filepath.Join(dir, "nginx.conf")
		workers := len(cpus)
		if workers == 0 {
			workers = runtime.NumCPU()
		}
		if err := os.WriteFile(conf, []byte(nginxConfig(dir, root, port, workers)), 0o644); err != nil {
			return nil, "", err
		}
		name, args := tasksetArgs(cpus, bin, []string{"-p", dir, "-c", conf, "-e", filepath.Join(dir, "error.log")})
		c, err := startChild("nginx", name, filepath.Join(dir, "nginx.log"), args...)
		if err != nil {
			return nil, "", err
		}
		addr := "127.0.0.1:" + strconv.Itoa(port)
		if lastErr = waitListening(c, addr, 10*time.Second); lastErr == nil {
			return c, addr, nil
		}
		c.stop()
	}
	return nil, "", lastErr
}

// waitListening polls until addr accepts a connection.
func waitListening(c *child, addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			conn.Close()
			return nil
		}
		if c.exited() {
			errLog, _ := os.ReadFile(filepath.Join(filepath.Dir(c.log), "error.log"))
			return fmt.Errorf("nginx exited: %v\n%s%s", c.err, c.tail(), errLog)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("nginx not listening on %s after %s", addr, timeout)
		}
		select {
		case <-c.done:
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func copyFile(src, dst string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, b, 0o644)
}
