// Blob upload helpers for publishers: which blobs are missing, and
// resumable uploads. A large zip over a flaky link is sent in chunks at
// increasing offsets to a partial file; when the connection breaks, the
// client asks HEAD for the offset the origin holds and continues from
// there. The finished file goes through BlobStore.Put, which verifies the
// hash and length, exactly like a one-shot PUT.

package origin

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sync/errgroup"

	"github.com/aloft/aloft/origin/api"
)

// maxMissingQuery bounds one missing-blobs question.
const maxMissingQuery = 100000

func (hs *httpAPI) missingBlobs(w http.ResponseWriter, r *http.Request) (int, any, error) {
	var req api.MissingBlobs
	if err := decodeBody(w, r, &req); err != nil {
		return 0, nil, err
	}
	if len(req.SHA256) > maxMissingQuery {
		return 0, nil, invalid("ask about at most %d blobs at once", maxMissingQuery)
	}
	shas := make([]string, len(req.SHA256))
	for i, sha := range req.SHA256 {
		if shas[i] = strings.ToLower(sha); !ValidSHA256(shas[i]) {
			return 0, nil, invalid("%q is not a hex sha256", sha)
		}
	}
	// One store round trip each (a HEAD on S3): a few at a time, so a
	// bundle of thousands of files is not asked about one by one.
	absent := make([]bool, len(shas))
	g, ctx := errgroup.WithContext(r.Context())
	g.SetLimit(16)
	for i, sha := range shas {
		g.Go(func() error {
			_, err := hs.bl.store.Size(ctx, sha)
			if absent[i] = errors.Is(err, ErrBlobNotFound); absent[i] {
				return nil
			}
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return 0, nil, err
	}
	out := api.MissingBlobs{SHA256: []string{}}
	for i, sha := range shas {
		if absent[i] {
			out.SHA256 = append(out.SHA256, sha)
		}
	}
	return http.StatusOK, out, nil
}

// uploads tracks partial uploads on disk. A mutex per blob serialises
// chunk appends so two clients cannot interleave bytes in one file, while
// a slow client holds up only its own blob (and the collector skips it).
type uploads struct {
	dir   string
	mu    sync.Mutex // guards locks
	locks map[string]*sync.Mutex
}

// lockFor returns the mutex of sha's partial upload.
func (u *uploads) lockFor(sha string) *sync.Mutex {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.locks == nil {
		u.locks = map[string]*sync.Mutex{}
	}
	l := u.locks[sha]
	if l == nil {
		l = &sync.Mutex{}
		u.locks[sha] = l
	}
	return l
}

func (u *uploads) path(sha string) string { return filepath.Join(u.dir, sha+".part") }

// offset is the size of the partial upload of sha (0 when none).
func (u *uploads) offset(sha string) int64 {
	fi, err := os.Stat(u.path(sha))
	if err != nil {
		return 0
	}
	return fi.Size()
}

func (hs *httpAPI) patchBlob(w http.ResponseWriter, r *http.Request) (int, any, error) {
	sha := strings.ToLower(r.PathValue("sha"))
	if !ValidSHA256(sha) {
		return 0, nil, invalid("%q is not a hex sha256", r.PathValue("sha"))
	}
	off, err1 := strconv.ParseInt(r.Header.Get(api.HeaderUploadOffset), 10, 64)
	total, err2 := strconv.ParseInt(r.Header.Get(api.HeaderUploadLength), 10, 64)
	if err1 != nil || err2 != nil || off < 0 || total <= 0 {
		return 0, nil, invalid("PATCH needs %s and %s headers", api.HeaderUploadOffset, api.HeaderUploadLength)
	}
	if total > hs.cfg.MaxBlobBytes {
		return 0, nil, fmt.Errorf("%w: blob is over %d bytes", ErrTooLarge, hs.cfg.MaxBlobBytes)
	}
	if size, err := hs.bl.store.Size(r.Context(), sha); err == nil {
		return http.StatusOK, api.UploadState{Offset: size, Complete: true}, nil
	}
	up := hs.bl.uploads
	l := up.lockFor(sha)
	l.Lock()
	defer l.Unlock()
	if have := up.offset(sha); have != off {
		w.Header().Set(api.HeaderUploadOffset, strconv.FormatInt(have, 10))
		return http.StatusConflict, api.UploadState{Offset: have}, nil
	}
	f, err := os.OpenFile(up.path(sha), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return 0, nil, fmt.Errorf("origin: partial upload: %w", err)
	}
	_, cerr := io.Copy(f, io.LimitReader(r.Body, total-off))
	serr := f.Sync()
	if err := errors.Join(serr, f.Close()); err != nil {
		return 0, nil, fmt.Errorf("origin: partial upload: %w", err)
	}
	if cerr != nil {
		// Whatever reached the disk stays: the client resumes from there.
		return 0, nil, fmt.Errorf("%w: upload interrupted at byte %d (%v); resume from HEAD's %s", ErrInvalid, up.offset(sha), cerr, api.HeaderUploadOffset)
	}
	have := up.offset(sha)
	if have < total {
		return http.StatusOK, api.UploadState{Offset: have}, nil
	}
	return hs.finishUpload(r, sha, total)
}

func (hs *httpAPI) finishUpload(r *http.Request, sha string, total int64) (int, any, error) {
	p := hs.bl.uploads.path(sha)
	f, err := os.Open(p)
	if err != nil {
		return 0, nil, fmt.Errorf("origin: partial upload: %w", err)
	}
	defer f.Close()
	defer os.Remove(p) // complete or corrupt, a finished partial is spent
	size, err := hs.bl.store.Put(r.Context(), sha, f, total, total)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, api.UploadState{Offset: size, Complete: true}, nil
}

// headBlobOrPartial answers HEAD: 200 with the size when stored, else 404
// carrying the offset of a partial upload.
func (hs *httpAPI) headBlobOrPartial(w http.ResponseWriter, r *http.Request) (int, any, error) {
	sha := strings.ToLower(r.PathValue("sha"))
	size, err := hs.bl.store.Size(r.Context(), sha)
	if errors.Is(err, ErrBlobNotFound) || errors.Is(err, fs.ErrNotExist) {
		if ValidSHA256(sha) {
			w.Header().Set(api.HeaderUploadOffset, strconv.FormatInt(hs.bl.uploads.offset(sha), 10))
		}
		w.WriteHeader(http.StatusNotFound)
		return 0, nil, nil
	}
	if err != nil {
		return 0, nil, err
	}
	w.Header().Set("Content-Length", strconv.FormatInt(size, 10))
	w.WriteHeader(http.StatusOK)
	return 0, nil, nil
}
