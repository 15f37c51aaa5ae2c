package origin

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/aloft/aloft/blobstore"
	"github.com/aloft/aloft/blobstore/s3test"
	"github.com/aloft/aloft/bundle"
	"github.com/aloft/aloft/origin/api"
)

// blobBackend is a store an origin can run on, with a way to reach the
// file behind a blob (to damage it behind the store's back).
type blobBackend struct {
	name  string
	start func(t *testing.T) (n *Node, cl *api.Client, file func(sha string) string)
}

// backends are the directory store and the S3 store on a real
// versitygw, both built by origin.New from the Config.
func backends(t *testing.T) []blobBackend {
	return []blobBackend{
		{"Dir", func(t *testing.T) (*Node, *api.Client, func(string) string) {
			n, cl := startGCNode(t, quiet)
			return n, cl, n.bl.store.BlobStore.(*blobstore.Dir).Path
		}},
		{"S3", func(t *testing.T) (*Node, *api.Client, func(string) string) {
			srv := s3test.Start(t)
			sc := srv.Config(t, "bundles", "aloft/")
			sc.SpoolDir = "" // origin.New fills in DataDir/spool
			n, cl := startGCNode(t, func(c *Config) { quiet(c); c.S3 = &sc })
			s3 := n.bl.store.BlobStore.(*blobstore.S3)
			return n, cl, func(sha string) string { return srv.ObjectPath("bundles", s3.Key(sha)) }
		}},
	}
}

// quiet drops the node's logs: the corruption tests make it log errors
// on purpose.
func quiet(c *Config) { c.Logger = slog.New(slog.DiscardHandler) }

// TestNode_PublishBundle_ThroughEachStore: both publish forms commit
// through an origin on each store, the bundle's checksums are the zip's,
// and the zip and payload come back intact through the API.
func TestNode_PublishBundle_ThroughEachStore(t *testing.T) {
	for _, be := range backends(t) {
		t.Run(be.name, func(t *testing.T) {
			n, cl, file := be.start(t)
			if n.bl.store.Shared() != (be.name == "S3") {
				t.Errorf("Shared() = %v", n.bl.store.Shared())
			}
			ctx := context.Background()
			zip := zipOf(t, "<html>stored on "+be.name+"</html>")
			b, err := cl.PutBundleZip(ctx, "com.example.app", "1.0.0", zip)
			if err != nil {
				t.Fatal(err)
			}
			if b.Zip != shaOf(zip) || b.Checksum != b.Zip || b.ChecksumCRC32 != bundle.CRC32Hex(zip) || b.ZipSize != int64(len(zip)) {
				t.Fatalf("raw publish: %+v", b)
			}
			payload := []byte("a delta file")
			zip2 := zipOf(t, "<html>second</html>")
			b2, err := cl.PutBundle(ctx, "com.example.app", "1.0.1", api.PutBundle{Zip: putBlob(t, cl, zip2),
				Manifest: []api.ManifestEntry{{FileName: "index.html", FileHash: "h", Blob: putBlob(t, cl, payload)}}})
			if err != nil {
				t.Fatal(err)
			}
			if b2.Manifest[0].Size != int64(len(payload)) || b2.ChecksumCRC32 != bundle.CRC32Hex(zip2) {
				t.Fatalf("JSON publish: %+v", b2)
			}
			for _, want := range [][]byte{zip, zip2, payload} {
				got, err := cl.GetBlob(ctx, shaOf(want))
				if err != nil || !bytes.Equal(got, want) {
					t.Fatalf("GET blob: %d bytes, %v; want %d", len(got), err, len(want))
				}
				if on, err := os.ReadFile(file(shaOf(want))); err != nil || !bytes.Equal(on, want) {
					t.Fatalf("the store's file for %s: %v", shaOf(want), err)
				}
			}
			if entries, _ := os.ReadDir(n.bl.spool); len(entries) != 0 {
				t.Errorf("spool files left after publishing: %v", entries)
			}
		})
	}
}

// TestGetBlob_CorruptObject_TransferCut: a blob damaged in the store
// never reaches a client as a complete body. A flipped byte (the length
// still right) is found only at the end, after the status line: the
// transfer is cut short of its Content-Length. A publish naming a damaged
// blob fails instead of committing.
func TestGetBlob_CorruptObject_TransferCut(t *testing.T) {
	for _, be := range backends(t) {
		t.Run(be.name, func(t *testing.T) {
			n, cl, file := be.start(t)
			ctx := context.Background()
			// Incompressible, so the answer takes many writes and its status
			// line is out long before the end.
			noise := make([]byte, 800_000)
			_, _ = rand.NewChaCha8([32]byte{1}).Read(noise)
			zip := zipOf(t, string(noise))
			sha := putBlob(t, cl, zip)
			b, err := os.ReadFile(file(sha))
			if err != nil {
				t.Fatal(err)
			}
			b[len(b)-3] ^= 0x20
			if err := os.WriteFile(file(sha), b, 0o644); err != nil {
				t.Fatal(err)
			}
			req, _ := http.NewRequest(http.MethodGet, "http://"+n.APIAddr()+"/api/v1/blobs/"+sha, nil)
			req.Header.Set("Authorization", "Bearer "+gcToken)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			got, rerr := io.ReadAll(resp.Body)
			resp.Body.Close()
			announced, _ := strconv.Atoi(resp.Header.Get("Content-Length"))
			if resp.StatusCode == http.StatusOK && (rerr == nil || len(got) >= announced) {
				t.Fatalf("a damaged blob came through whole: %d of %d bytes, %v", len(got), announced, rerr)
			}
			if !errors.Is(rerr, io.ErrUnexpectedEOF) {
				t.Errorf("the client saw %v, want a transfer cut short (unexpected EOF)", rerr)
			}
			if _, err := cl.GetBlob(ctx, sha); err == nil {
				t.Fatal("api.Client.GetBlob returned a damaged blob without an error")
			}
			_, err = cl.PutBundle(ctx, "com.example.app", "1.0.0", api.PutBundle{Zip: sha})
			var ae *api.Error
			if !errors.As(err, &ae) || ae.Code != api.CodeBlobCorrupt {
				t.Fatalf("publish of a damaged zip: %v, want %s", err, api.CodeBlobCorrupt)
			}
			if _, err := n.svc.Bundle("com.example.app", "1.0.0"); !errors.Is(err, ErrBundleNotFound) {
				t.Fatalf("the bundle committed anyway: %v", err)
			}
			// A truncated S3 object disagrees with its recorded length
			// before the first byte: the answer is a clean error.
			if be.name == "S3" {
				if err := os.WriteFile(file(sha), b[:len(b)/2], 0o644); err != nil {
					t.Fatal(err)
				}
				if _, err := cl.GetBlob(ctx, sha); !errors.As(err, &ae) || ae.Code != api.CodeBlobCorrupt {
					t.Fatalf("GET of a truncated S3 object: %v, want %s", err, api.CodeBlobCorrupt)
				}
			}
		})
	}
}

// TestGC_CollectsThroughEachStore: on either store the collector lists
// what is stored, keeps what a bundle names and deletes the rest once old
// and unused. S3 cannot be told an object is old, so the minimum age is
// overridden to zero and the use marks are cleared instead.
func TestGC_CollectsThroughEachStore(t *testing.T) {
	for _, be := range backends(t) {
		t.Run(be.name, func(t *testing.T) {
			n, cl, _ := be.start(t)
			ctx := context.Background()
			live, err := cl.PutBundleZip(ctx, "com.example.app", "1.0.0", zipOf(t, "live"))
			if err != nil {
				t.Fatal(err)
			}
			orphan := putBlob(t, cl, []byte("a refused publish left this"))
			n.bl.store.forget(time.Now().Add(time.Hour)) // as if unused for long
			rep := gc(t, cl, api.CollectGarbage{MinAgeSeconds: secs(0)})
			if rep.Scanned != 2 || rep.Referenced != 1 || rep.Deleted != 1 || rep.FreedBytes != int64(len("a refused publish left this")) {
				t.Fatalf("report %+v", rep)
			}
			if has(n, orphan) || !has(n, live.Zip) {
				t.Fatalf("after collecting: orphan kept %v, live zip kept %v", has(n, orphan), has(n, live.Zip))
			}
		})
	}
}
