package main

import (
	"bufio"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aloft/aloft/blobstore/s3test"
)

// TestBinary_OriginOnS3: `aloft origin --s3-*` refuses a bucket that does
// not exist (naming it) instead of creating it, and with one that does, a
// bundle the CLI uploads lands in the bucket, under the prefix.
func TestBinary_OriginOnS3(t *testing.T) {
	bin := buildBinary(t)
	srv := s3test.Start(t)
	dir := t.TempDir()
	const token = "binary-s3-token-0123456789"
	env := append(os.Environ(), "ALOFT_ADMIN_TOKEN="+token,
		"AWS_ACCESS_KEY_ID="+srv.AccessKey, "AWS_SECRET_ACCESS_KEY="+srv.SecretKey)
	origin := func(bucket string) *exec.Cmd {
		cmd := exec.Command(bin, "origin", "--data", filepath.Join(dir, bucket), "--api-addr", "127.0.0.1:0",
			"--s3-endpoint", srv.Endpoint, "--s3-insecure", "--s3-bucket", bucket, "--s3-prefix", "prod/aloft")
		cmd.Env = env
		return cmd
	}
	out, err := origin("missing").CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 || !strings.Contains(string(out), `"missing"`) || !strings.Contains(string(out), "does not exist") {
		t.Fatalf("aloft origin on a missing bucket: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(srv.Root, "missing")); !os.IsNotExist(err) {
		t.Fatalf("the missing bucket was created: %v", err)
	}
	out, err = exec.Command(bin, "origin", "--data", dir, "--admin-token", token, "--s3-bucket", "b").CombinedOutput()
	if !errors.As(err, &ee) || ee.ExitCode() != 2 || !strings.Contains(string(out), "--s3-endpoint") {
		t.Fatalf("--s3-bucket without --s3-endpoint: %v\n%s", err, out)
	}

	srv.Bucket(t, "bundles")
	base := startPrinting(t, origin("bundles"))
	web := filepath.Join(dir, "dist")
	_ = os.MkdirAll(web, 0o755)
	_ = os.WriteFile(filepath.Join(web, "index.html"), []byte("<html>on s3</html>"), 0o644)
	for _, args := range [][]string{
		{"app", "create", "com.example.app"},
		{"bundle", "upload", web, "--app", "com.example.app", "--version", "1.0.0"},
	} {
		c := exec.Command(bin, args...)
		c.Env = append(os.Environ(), "ALOFT_API="+base, "ALOFT_TOKEN="+token, "HOME="+dir)
		if out, err := c.CombinedOutput(); err != nil {
			t.Fatalf("aloft %v: %v\n%s", args, err, out)
		}
	}
	fans, err := os.ReadDir(filepath.Join(srv.Root, "bundles", "prod", "aloft"))
	blobs := 0
	for _, f := range fans {
		if len(f.Name()) == 2 {
			blobs++
		}
	}
	if err != nil || blobs == 0 {
		t.Fatalf("no blob under s3://bundles/prod/aloft/ after the upload: %v %v", fans, err)
	}
}

// startPrinting starts a node that prints its URL on its first line,
// stops it at cleanup, and returns the URL.
func startPrinting(t *testing.T, cmd *exec.Cmd) string {
	t.Helper()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Signal(syscall.SIGINT); _ = cmd.Wait() })
	first := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(stdout).ReadString('\n')
		first <- line
	}()
	select {
	case line := <-first:
		i := strings.Index(line, "http://")
		if i < 0 {
			t.Fatalf("%v printed %q", cmd.Args, line)
		}
		return strings.Fields(line[i:])[0]
	case <-time.After(30 * time.Second):
		t.Fatalf("%v did not start", cmd.Args)
	}
	return ""
}
