// Publishing uploads with retries: ask which blobs are missing, send each
// one, in resumable chunks when large, and retry transient failures.

package api

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"time"
)

// Upload tuning. ChunkSize is the PATCH chunk of resumable uploads;
// blobs up to ChunkSize go in one PUT.
const (
	ChunkSize     = 4 << 20
	uploadRetries = 6
	firstBackoff  = 200 * time.Millisecond
)

// MissingBlobs returns the blobs among shas that the origin lacks.
func (c *Client) MissingBlobs(ctx context.Context, shas []string) ([]string, error) {
	var out MissingBlobs
	err := c.Do(ctx, http.MethodPost, Prefix+"/blobs/missing", MissingBlobs{SHA256: shas}, "", &out)
	return out.SHA256, err
}

// transient reports whether a failed call is worth retrying.
func transient(err error) bool {
	var e *Error
	if errors.As(err, &e) {
		return e.Status >= 500 || e.Status == http.StatusTooManyRequests || e.Status == http.StatusRequestTimeout
	}
	return errors.Is(err, ErrUnreachable)
}

// retry runs fn until it succeeds, fails permanently, or runs out of tries.
func retry(ctx context.Context, fn func() error) error {
	wait := firstBackoff
	var err error
	for i := 0; i < uploadRetries; i++ {
		if err = fn(); err == nil || !transient(err) {
			return err
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return errors.Join(err, ctx.Err())
		case <-t.C:
		}
		wait *= 2
	}
	return err
}

// UploadBlob stores data under sha, retrying transient failures; data over
// ChunkSize goes in resumable chunks, continuing from the origin's offset
// after a broken connection. progress (may be nil) receives the bytes the
// origin has confirmed so far.
func (c *Client) UploadBlob(ctx context.Context, sha string, data []byte, progress func(done int64)) error {
	report := func(n int64) {
		if progress != nil {
			progress(n)
		}
	}
	if len(data) <= ChunkSize {
		err := retry(ctx, func() error {
			_, err := c.PutBlob(ctx, sha, bytes.NewReader(data), int64(len(data)))
			return err
		})
		if err == nil {
			report(int64(len(data)))
		}
		return err
	}
	off := int64(0)
	for off < int64(len(data)) {
		err := retry(ctx, func() error {
			next, err := c.patchChunk(ctx, sha, data, off)
			if err != nil {
				// Learn where the origin stands before trying again.
				if have, herr := c.UploadOffset(ctx, sha); herr == nil {
					off = have
				}
				return err
			}
			off = next
			return nil
		})
		if err != nil {
			return err
		}
		report(off)
	}
	return nil
}

func (c *Client) patchChunk(ctx context.Context, sha string, data []byte, off int64) (int64, error) {
	end := min(off+ChunkSize, int64(len(data)))
	req, err := http.NewRequestWithContext(ctx, http.MethodPatch, c.base+Prefix+"/blobs/"+esc(sha), bytes.NewReader(data[off:end]))
	if err != nil {
		return off, err
	}
	req.ContentLength = end - off
	req.Header.Set("Content-Type", "application/offset+octet-stream")
	req.Header.Set(HeaderUploadOffset, strconv.FormatInt(off, 10))
	req.Header.Set(HeaderUploadLength, strconv.Itoa(len(data)))
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := c.http.Do(req)
	if err != nil {
		return off, errors.Join(ErrUnreachable, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusConflict {
		have, _ := strconv.ParseInt(resp.Header.Get(HeaderUploadOffset), 10, 64)
		_, _ = io.Copy(io.Discard, resp.Body)
		return have, nil // resume from where the origin is
	}
	if resp.StatusCode/100 != 2 {
		return off, decodeError(resp)
	}
	var st UploadState
	if err := jsonDecode(resp.Body, &st); err != nil {
		return off, err
	}
	if st.Complete {
		return int64(len(data)), nil
	}
	return st.Offset, nil
}

// UploadOffset returns how many bytes of sha the origin holds: the full
// size when stored, the partial offset otherwise.
func (c *Client) UploadOffset(ctx context.Context, sha string) (int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodHead, c.base+Prefix+"/blobs/"+esc(sha), nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, errors.Join(ErrUnreachable, err)
	}
	resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
		return resp.ContentLength, nil
	case http.StatusNotFound:
		n, _ := strconv.ParseInt(resp.Header.Get(HeaderUploadOffset), 10, 64)
		return n, nil
	}
	return 0, &Error{Code: "unexpected_status", Message: resp.Status, Status: resp.StatusCode}
}
