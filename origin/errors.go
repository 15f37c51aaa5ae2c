// Sentinel errors of the origin, mapped to HTTP status in one place
// (httpError in http.go).

package origin

import (
	"errors"

	"github.com/aloft/aloft/blobstore"
)

// Errors returned by the origin's operations; wrap with %w and test with
// errors.Is.
var (
	ErrInvalid        = errors.New("origin: invalid request")
	ErrUnauthorized   = errors.New("origin: unauthorized")
	ErrForbidden      = errors.New("origin: forbidden")
	ErrAppNotFound    = errors.New("origin: app not found")
	ErrAppExists      = errors.New("origin: app already exists")
	ErrBundleNotFound = errors.New("origin: bundle not found")
	ErrBundleExists   = errors.New("origin: bundle version already exists")
	ErrBundleInUse    = errors.New("origin: bundle is used by a channel")
	ErrChanNotFound   = errors.New("origin: channel not found")
	ErrNotFound       = errors.New("origin: not found")
	ErrTokenExists    = errors.New("origin: token name already exists")
	ErrConflict       = errors.New("origin: the state changed under a conditional change")
	// ErrUnavailable: something the answer needs cannot be had now.
	ErrUnavailable = errors.New("origin: temporarily unavailable")
	// ErrEncryptionRequired: the app's policy refuses unencrypted bundles.
	ErrEncryptionRequired = errors.New("origin: encryption required")
	ErrBlobNotFound       = blobstore.ErrNotFound
	ErrHashMismatch       = blobstore.ErrHashMismatch
	ErrInvalidZip         = errors.New("origin: invalid bundle zip")
	ErrTooLarge           = errors.New("origin: too large")
	ErrNotLeader          = errors.New("origin: not the raft leader")
	ErrClosed             = errors.New("origin: node is closed")
	ErrBodyTimeout        = errors.New("origin: the request body stalled")
	ErrNoLeader           = errors.New("origin: the cluster has no leader")
)
