// Command bare is the bench harness's ceiling: a fasthttp server that does
// no work at all. It answers POST /updates with one fixed, already-encoded
// update response, POST /stats with {"status":"ok"}, and every GET under
// /b/ with the same bytes held in memory. Whatever Aloft measures is
// divided by what this process reaches on the same machine in the same run.
//
//	bare -addr 127.0.0.1:0 -ready-file F -update body.json -blob bundle.zip
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address (port 0 picks one)")
	ready := flag.String("ready-file", "", `write {"addr":…} here once listening`)
	updatePath := flag.String("update", "", "file holding the /updates answer body")
	blobPath := flag.String("blob", "", "file served for every GET /b/…")
	flag.Parse()
	if err := run(*addr, *ready, *updatePath, *blobPath); err != nil {
		fmt.Fprintln(os.Stderr, "bare:", err)
		os.Exit(1)
	}
}

func run(addr, ready, updatePath, blobPath string) error {
	update, err := os.ReadFile(updatePath)
	if err != nil {
		return err
	}
	blob, err := os.ReadFile(blobPath)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	// The same server settings as the edge, so only the handler differs.
	srv := &fasthttp.Server{Handler: handler(update, blob), Name: "bare",
		ReadTimeout: 30 * time.Second, WriteTimeout: 5 * time.Minute, IdleTimeout: 2 * time.Minute}
	if ready != "" {
		b, _ := json.Marshal(map[string]string{"addr": ln.Addr().String()})
		if err := os.WriteFile(ready, b, 0o600); err != nil {
			return err
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	go func() {
		<-ctx.Done()
		_ = srv.Shutdown()
		_ = ln.Close() // Shutdown misses a listener Serve has not registered yet
	}()
	return srv.Serve(ln)
}

func handler(update, blob []byte) fasthttp.RequestHandler {
	ok := []byte(`{"status":"ok"}`)
	return func(ctx *fasthttp.RequestCtx) {
		path := ctx.Path()
		switch {
		case string(path) == "/updates":
			ctx.SetContentType("application/json")
			ctx.Response.SetBodyRaw(update)
		case string(path) == "/stats":
			ctx.SetContentType("application/json")
			ctx.Response.SetBodyRaw(ok)
		case len(path) > 3 && string(path[:3]) == "/b/":
			ctx.SetContentType("application/zip")
			ctx.Response.SetBodyRaw(blob)
		default:
			ctx.SetStatusCode(fasthttp.StatusNotFound)
		}
	}
}
