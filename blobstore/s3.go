// S3: blobs as objects in an S3-compatible bucket, through minio-go.

package blobstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
)

// Object metadata the store writes with every blob, so a read can tell a
// truncated object from a short blob before it sends a byte.
const (
	metaSHA  = "Aloft-Sha256"
	metaSize = "Aloft-Size"
)

// S3 stores blobs in a bucket under Prefix, at prefix/ab/abcdef… (the Dir
// layout). It is shared: every origin node that points at the same bucket
// and prefix sees the same blobs.
//
// A Put streams to a temporary object (prefix/tmp/put-…) while hashing,
// deletes it if the content was not what its name says, copies it into
// place (server side) once it is, and then reads the final object's size
// and metadata back (a HEAD, not a full GET: a full read would double every
// upload's traffic, and a publish reads its blobs whole anyway). A Put of
// unknown length is spooled to a local file first and verified there, so
// minio-go always knows the size: memory per upload is at most one part
// (PartSize) whatever the blob's size.
type S3 struct {
	c        *minio.Client
	bucket   string
	prefix   string
	partSize uint64
	spool    string
}

// NewS3 connects to the service and checks that the bucket exists; it
// does not create it (ErrNoBucket names the bucket).
func NewS3(ctx context.Context, cfg S3Config) (*S3, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cl, err := cfg.client()
	if err != nil {
		return nil, err
	}
	s := &S3{c: cl, bucket: cfg.Bucket, prefix: cfg.prefix(), partSize: cfg.PartSize, spool: cfg.SpoolDir}
	if s.partSize == 0 {
		s.partSize = DefaultS3PartSize
	}
	if s.spool == "" {
		s.spool = os.TempDir()
	}
	ok, err := cl.BucketExists(ctx, cfg.Bucket)
	if err != nil {
		return nil, fmt.Errorf("blobstore: S3 bucket %q at %s: %w", cfg.Bucket, cfg.Endpoint, err)
	}
	if !ok {
		return nil, fmt.Errorf("%w: %q at %s; create it first (aloft never creates buckets)", ErrNoBucket, cfg.Bucket, cfg.Endpoint)
	}
	return s, nil
}

// Shared reports true: a bucket is reachable from every node.
func (s *S3) Shared() bool { return true }

// Key is the object key of the blob named sha.
func (s *S3) Key(sha string) string { return s.prefix + sha[:2] + "/" + sha }

func (s *S3) url(key string) string { return "s3://" + s.bucket + "/" + key }

// Put stores size bytes (size < 0: unknown) read from r, which must hash
// to sha and be at most max bytes.
func (s *S3) Put(ctx context.Context, sha string, r io.Reader, size, max int64) (int64, error) {
	if err := checkPut(sha, size, max); err != nil {
		return 0, err
	}
	if size > maxS3Copy {
		return 0, fmt.Errorf("%w: %d bytes; the S3 store copies each verified upload into place, which S3 allows up to 5 GiB", ErrTooLarge, size)
	}
	if size < 0 {
		f, n, err := s.spoolIn(r, sha, max)
		if err != nil {
			return 0, err
		}
		defer os.Remove(f.Name())
		defer f.Close()
		// Hidden behind a plain io.Reader: given an io.ReaderAt, minio-go
		// uploads parts in parallel, a part buffer each.
		r, size = struct{ io.Reader }{f}, n
	}
	tmp := s.prefix + "tmp/put-" + randomHex()
	defer s.removeQuietly(ctx, tmp)
	in := newIntake(r, max)
	opts := minio.PutObjectOptions{
		UserMetadata: map[string]string{metaSHA: sha, metaSize: strconv.FormatInt(size, 10)},
		ContentType:  "application/octet-stream",
		PartSize:     s.partSize,
	}
	if _, err := s.c.PutObject(ctx, s.bucket, tmp, in, size, opts); err != nil {
		if in.n > in.max {
			return 0, fmt.Errorf("%w: over %d bytes", ErrTooLarge, max)
		}
		return 0, fmt.Errorf("blobstore: put %s: %w", s.url(tmp), err)
	}
	if err := in.finish(sha, size); err != nil {
		return 0, err // the deferred remove deletes the bad temporary object
	}
	key := s.Key(sha)
	if _, err := s.c.CopyObject(ctx, minio.CopyDestOptions{Bucket: s.bucket, Object: key},
		minio.CopySrcOptions{Bucket: s.bucket, Object: tmp}); err != nil {
		return 0, fmt.Errorf("blobstore: copy %s to %s: %w", s.url(tmp), s.url(key), err)
	}
	got, err := s.Size(ctx, sha)
	if err != nil {
		return 0, fmt.Errorf("blobstore: read back %s: %w", s.url(key), err)
	}
	if got != size {
		return 0, fmt.Errorf("%w: %s: %d bytes after writing %d", ErrCorrupt, s.url(key), got, size)
	}
	return size, nil
}

// spoolIn writes an upload of unknown length to a local file, verified,
// and rewinds it.
func (s *S3) spoolIn(r io.Reader, sha string, max int64) (*os.File, int64, error) {
	f, err := os.CreateTemp(s.spool, "s3-spool-*")
	if err != nil {
		return nil, 0, fmt.Errorf("blobstore: spool upload: %w", err)
	}
	n, err := copyIn(f, r, sha, -1, max)
	if err == nil {
		_, err = f.Seek(0, io.SeekStart)
	}
	if err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, 0, err
	}
	return f, n, nil
}

// removeQuietly deletes a temporary object even when ctx was cancelled
// (a client hanging up mid-upload must not leave it behind); a failure
// leaves it to SweepTemp.
func (s *S3) removeQuietly(ctx context.Context, key string) {
	c, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	_ = s.c.RemoveObject(c, s.bucket, key, minio.RemoveObjectOptions{})
}

func randomHex() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// recordedSize is the size the store wrote for an object: its metadata
// when present (objects copied in from a Dir have none), checked against
// the length the service reports now.
func (s *S3) recordedSize(sha, key string, info minio.ObjectInfo) (int64, error) {
	if m := info.Metadata.Get("X-Amz-Meta-" + metaSHA); m != "" && m != sha {
		return 0, fmt.Errorf("%w: %s: its metadata names sha256 %s", ErrCorrupt, s.url(key), m)
	}
	m := info.Metadata.Get("X-Amz-Meta-" + metaSize)
	if m == "" {
		return info.Size, nil
	}
	want, err := strconv.ParseInt(m, 10, 64)
	if err != nil || want != info.Size {
		return 0, fmt.Errorf("%w: %s: %d bytes, its metadata says %s", ErrCorrupt, s.url(key), info.Size, m)
	}
	return want, nil
}

// mapErr maps a missing key (or bucket) to the store's sentinels.
func (s *S3) mapErr(op, sha, key string, err error) error {
	switch minio.ToErrorResponse(err).Code {
	case minio.NoSuchKey:
		return fmt.Errorf("%w: %s", ErrNotFound, sha)
	case minio.NoSuchBucket:
		return fmt.Errorf("%w: %q", ErrNoBucket, s.bucket)
	}
	return fmt.Errorf("blobstore: %s %s: %w", op, s.url(key), err)
}

// Open returns the blob behind a verifying reader, and its size. A length
// that disagrees with the object's metadata fails here, before any byte.
//
// One GET, read through minio.Core: its body is the HTTP response's, so a
// Read returns what has arrived. (Client.GetObject's *minio.Object fills
// the caller's whole buffer before it returns: through a slow S3 the
// origin would pass on nothing until 128 KiB had come, and an edge's
// first-byte deadline, not its throughput floor, would cut the fill.) The
// GET's headers carry the size and metadata a HEAD would.
func (s *S3) Open(ctx context.Context, sha string) (io.ReadCloser, int64, error) {
	if err := checkName(sha); err != nil {
		return nil, 0, fmt.Errorf("%w: %w", ErrNotFound, err)
	}
	key := s.Key(sha)
	body, info, err := s.get(ctx, key, minio.GetObjectOptions{})
	if err != nil {
		return nil, 0, s.mapGetErr(sha, key, err)
	}
	if info.Size < 0 {
		// No Content-Length (a chunked answer, from a proxy say): the
		// length comes from a HEAD, as it always did before.
		st, err := s.c.StatObject(ctx, s.bucket, key, minio.StatObjectOptions{})
		if err != nil {
			body.Close()
			return nil, 0, s.mapGetErr(sha, key, err)
		}
		info.Size = st.Size
	}
	size, err := s.recordedSize(sha, key, info)
	if err != nil {
		body.Close()
		return nil, 0, err
	}
	return newVerifyingReader(body, s.url(key), sha, size), size, nil
}

// get is one GET of key, its body unbuffered (see Open).
func (s *S3) get(ctx context.Context, key string, opts minio.GetObjectOptions) (io.ReadCloser, minio.ObjectInfo, error) {
	body, info, _, err := minio.Core{Client: s.c}.GetObject(ctx, s.bucket, key, opts)
	return body, info, err
}

// mapGetErr is mapErr for a GET. Open used to learn of a missing object
// from a HEAD, as Size still does, and a HEAD's answer has no body to name
// a missing bucket: minio-go reports NoSuchKey for either. A GET's error
// body tells them apart; Open and OpenRange keep answering as Size does
// (ErrNotFound).
func (s *S3) mapGetErr(sha, key string, err error) error {
	if minio.ToErrorResponse(err).Code == minio.NoSuchBucket {
		return fmt.Errorf("%w: %s", ErrNotFound, sha)
	}
	return s.mapErr("get", sha, key, err)
}

// OpenRange returns n bytes from offset off, their count checked only:
// callers that need integrity use Open. Like Open's, its reads return
// what has arrived.
func (s *S3) OpenRange(ctx context.Context, sha string, off, n int64) (io.ReadCloser, error) {
	size, err := s.Size(ctx, sha)
	if err != nil {
		return nil, err
	}
	if off < 0 || n < 0 || off+n > size {
		return nil, fmt.Errorf("%w: %d bytes at %d of %d-byte %s", ErrRange, n, off, size, sha)
	}
	key := s.Key(sha)
	if n == 0 {
		return newRangeReader(strings.NewReader(""), io.NopCloser(nil), s.url(key), 0), nil
	}
	var opts minio.GetObjectOptions
	if err := opts.SetRange(off, off+n-1); err != nil {
		return nil, fmt.Errorf("blobstore: range of %s: %w", s.url(key), err)
	}
	body, info, err := s.get(ctx, key, opts)
	if err != nil {
		return nil, s.mapGetErr(sha, key, err)
	}
	// A store (or a proxy before it) that ignores Range answers the
	// whole object: its first n bytes would pass the count check and be
	// the wrong bytes.
	if info.Size >= 0 && info.Size != n {
		body.Close()
		return nil, fmt.Errorf("blobstore: get %s: asked for %d bytes at %d, the store answered %d: it ignored the range", s.url(key), n, off, info.Size)
	}
	return newRangeReader(body, body, s.url(key), n), nil
}

// Size reports a blob's size, checked against its metadata.
func (s *S3) Size(ctx context.Context, sha string) (int64, error) {
	if err := checkName(sha); err != nil {
		return 0, fmt.Errorf("%w: %w", ErrNotFound, err)
	}
	key := s.Key(sha)
	info, err := s.c.StatObject(ctx, s.bucket, key, minio.StatObjectOptions{})
	if err != nil {
		return 0, s.mapErr("stat", sha, key, err)
	}
	return s.recordedSize(sha, key, info)
}

// List calls fn for every blob under the prefix; other keys (tmp/, an
// operator's files) are skipped.
func (s *S3) List(ctx context.Context, fn func(Info) error) error {
	ctx, cancel := context.WithCancel(ctx) // stops minio-go's lister when fn fails
	defer cancel()
	for obj := range s.c.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: s.prefix, Recursive: true}) {
		if obj.Err != nil {
			return s.mapErr("list", "", s.prefix, obj.Err)
		}
		fan, sha, ok := strings.Cut(strings.TrimPrefix(obj.Key, s.prefix), "/")
		if !ok || !ValidSHA256(sha) || fan != sha[:2] {
			continue
		}
		if err := fn(Info{SHA256: sha, Size: obj.Size, Stored: obj.LastModified}); err != nil {
			return err
		}
	}
	return ctx.Err()
}

// Delete removes a blob; removing an absent blob is not an error.
func (s *S3) Delete(ctx context.Context, sha string) error {
	if err := checkName(sha); err != nil {
		return err
	}
	key := s.Key(sha)
	if err := s.c.RemoveObject(ctx, s.bucket, key, minio.RemoveObjectOptions{}); err != nil {
		return s.mapErr("delete", sha, key, err)
	}
	return nil
}

// SweepTemp removes temporary objects and unfinished multipart uploads
// under prefix/tmp/ that a crashed Put left, when older than cutoff (or
// only counts them when dry).
func (s *S3) SweepTemp(ctx context.Context, cutoff time.Time, dry bool) (int, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	tmp := s.prefix + "tmp/"
	removed := 0
	var errs []error
	for obj := range s.c.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: tmp, Recursive: true}) {
		if obj.Err != nil {
			errs = append(errs, s.mapErr("list", "", tmp, obj.Err))
			break
		}
		if !obj.LastModified.Before(cutoff) {
			continue
		}
		if dry || s.c.RemoveObject(ctx, s.bucket, obj.Key, minio.RemoveObjectOptions{}) == nil {
			removed++
		}
	}
	for up := range s.c.ListIncompleteUploads(ctx, s.bucket, tmp, true) {
		if up.Err != nil {
			errs = append(errs, s.mapErr("list uploads", "", tmp, up.Err))
			break
		}
		if !up.Initiated.Before(cutoff) {
			continue
		}
		if dry || s.c.RemoveIncompleteUpload(ctx, s.bucket, up.Key) == nil {
			removed++
		}
	}
	return removed, errors.Join(errs...)
}
