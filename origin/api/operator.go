// Operator API request and response bodies (docs/api.md documents each).

package api

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
)

// Header names used on the operator API.
const (
	// HeaderIdempotencyKey lets a client retry a write safely: the origin
	// applies a key at most once.
	HeaderIdempotencyKey = "Idempotency-Key"
	// HeaderIndex carries the catalog index a write produced.
	HeaderIndex = "X-Aloft-Index"
	// HeaderAfter on a request asks the answering node to hold at least
	// this index first (the client's own last write): a follower waits
	// for it, briefly, or hands the request to the leader.
	HeaderAfter = "X-Aloft-After"
	// HeaderNode names the origin node that served an answer (the leader,
	// for a forwarded request).
	HeaderNode = "X-Aloft-Node"
)

// Error is the JSON body of every operator API error.
type Error struct {
	Code    string `json:"error"`
	Message string `json:"message"`
	// Status is the HTTP status; not sent on the wire.
	Status int `json:"-"`
}

// Error implements error.
func (e *Error) Error() string {
	if e.Message == "" {
		return e.Code
	}
	return e.Code + ": " + e.Message
}

// Operator API error codes.
const (
	CodeBadRequest   = "bad_request"
	CodeUnauthorized = "unauthorized"
	CodeForbidden    = "forbidden"
	// CodeTooManyRequests: the token is over its request budget on the
	// node asked; Retry-After says when to come back.
	CodeTooManyRequests = "too_many_requests"
	CodeNotFound        = "not_found"
	CodeConflict        = "conflict"
	// CodeEncryptionRequired: the app's policy refuses unencrypted bundles.
	CodeEncryptionRequired = "encryption_required"
	CodeAppNotFound        = "app_not_found"
	CodeBundleNotFound     = "bundle_not_found"
	CodeChanNotFound       = "channel_not_found"
	CodeBlobNotFound       = "blob_not_found"
	CodeAppExists          = "app_exists"
	CodeBundleExists       = "bundle_exists"
	CodeBundleInUse        = "bundle_in_use"
	CodeInvalidZip         = "invalid_zip"
	CodeHashMismatch       = "hash_mismatch"
	CodeTooLarge           = "too_large"
	CodeNotLeader          = "not_leader"
	CodeUnavailable        = "unavailable"
	CodeInternal           = "internal"
	CodeTimeout            = "request_timeout"
	CodeServerBusy         = "server_busy"
	// CodeBlobCorrupt: the blob store handed back an object whose length
	// or SHA-256 is wrong; the message names the object. PUT the blob
	// again (a PUT replaces it) or restore it from a backup.
	CodeBlobCorrupt = "blob_corrupt"
)

// CreateApp is the body of POST /api/v1/apps.
type CreateApp struct {
	AppID string `json:"app_id"`
	Name  string `json:"name"`
}

// PutBundle is the JSON body of PUT /api/v1/apps/{app}/bundles/{version}.
type PutBundle struct {
	// Zip is the SHA-256 of a blob uploaded before with PUT /api/v1/blobs.
	Zip string `json:"zip,omitempty"`
	// Checksum must be given for an encrypted zip; for a plain zip the
	// origin computes it and, if one is given, checks that it matches.
	Checksum         string          `json:"checksum,omitempty"`
	SessionKey       string          `json:"session_key,omitempty"`
	KeyID            string          `json:"key_id,omitempty"`
	MinUpdateVersion string          `json:"min_update_version,omitempty"`
	Link             string          `json:"link,omitempty"`
	Comment          string          `json:"comment,omitempty"`
	Manifest         []ManifestEntry `json:"manifest,omitempty"`
}

// PutChannel is the body of PUT /api/v1/apps/{app}/channels/{name}. Every
// field is optional: a field that is absent keeps its current value, or its
// default when the channel is new (all platforms and device kinds allowed,
// not public, no self-set, disable_auto_update "none").
type PutChannel struct {
	Bundle *string `json:"bundle,omitempty"`

	IOS      *bool `json:"ios,omitempty"`
	Android  *bool `json:"android,omitempty"`
	Electron *bool `json:"electron,omitempty"`

	AllowEmulator *bool `json:"allow_emulator,omitempty"`
	AllowDevice   *bool `json:"allow_device,omitempty"`
	AllowDev      *bool `json:"allow_dev,omitempty"`
	AllowProd     *bool `json:"allow_prod,omitempty"`

	Public             *bool `json:"public,omitempty"`
	AllowDeviceSelfSet *bool `json:"allow_device_self_set,omitempty"`

	DisableAutoUpdate            *string `json:"disable_auto_update,omitempty"`
	DisableAutoUpdateUnderNative *bool   `json:"disable_auto_update_under_native,omitempty"`

	// Rollout replaces the rollout; ClearRollout removes it.
	Rollout      *RolloutSpec `json:"rollout,omitempty"`
	ClearRollout bool         `json:"clear_rollout,omitempty"`
	// RolloutPaused pauses (true) or resumes (false) the current rollout.
	RolloutPaused *bool `json:"rollout_paused,omitempty"`
	// Promote makes the rollout bundle the channel's bundle and ends the
	// rollout.
	Promote bool `json:"promote,omitempty"`
	// Rollback ends any rollout and points the channel back at its
	// previous bundle, or at builtin when it has none.
	Rollback bool `json:"rollback,omitempty"`
	// Tripped records why a rollout was stopped (the rollout guard sets
	// it with its pause); resuming clears it.
	Tripped *string `json:"tripped,omitempty"`
	// IfRollout makes the change conditional: it applies only while the
	// channel's rollout has this id (409 conflict otherwise), so a change
	// decided about one rollout never hits the next.
	IfRollout string `json:"if_rollout,omitempty"`
	// IfTripped, with IfRollout, also requires that rollout's guard to
	// have tripped (and no operator to have resumed it since).
	IfTripped bool `json:"if_tripped,omitempty"`
	// AdvanceStage, with IfRollout, opens the staged rollout's next
	// region (the leader does it when the current stage is healthy).
	AdvanceStage bool `json:"advance_stage,omitempty"`
}

// MissingBlobs is the body and the answer of POST /api/v1/blobs/missing:
// the client names the blobs it wants to reference, the origin answers
// those it lacks.
type MissingBlobs struct {
	SHA256 []string `json:"sha256"`
}

// Resumable uploads (PATCH /api/v1/blobs/{sha}): the client sends chunks
// at increasing offsets; HEAD answers 404 with HeaderUploadOffset when a
// partial upload exists, so a broken upload resumes where it stopped.
const (
	HeaderUploadOffset = "Upload-Offset"
	HeaderUploadLength = "Upload-Length"
)

// UploadState answers a PATCH chunk.
type UploadState struct {
	Offset   int64 `json:"offset"`
	Complete bool  `json:"complete"`
}

// RolloutSpec is the operator's view of a rollout. The origin assigns the ID
// when the bundle changes.
type RolloutSpec struct {
	Bundle     string `json:"bundle"`
	PercentBPS int    `json:"percent_bps"`
	Paused     bool   `json:"paused"`
	// Guard, when set, stops the rollout on its own once its bundle fails
	// too often (see RolloutGuard).
	// A step of a running rollout (same bundle) that names no Guard keeps
	// the rollout's; NoGuard removes it.
	Guard   *RolloutGuard `json:"guard,omitempty"`
	NoGuard bool          `json:"no_guard,omitempty"`
	// Regions stages a new rollout by edge region, one region at a time
	// in this order (it needs a Guard: the guard's health test gates each
	// stage); a step of the same rollout that names none keeps them.
	Regions []string `json:"regions,omitempty"`
	// StageMinutes is how long each stage runs, at least, before the
	// next may start (default 10).
	StageMinutes int `json:"stage_minutes,omitempty"`
}

// Guard actions: what a tripped guard does to its rollout. Every trip is
// recorded on the rollout (Rollout.Tripped) and notified (webhook event
// rollout.paused, rollout.rolled_back or rollout.failure_alert).
const (
	GuardPause    = "pause"
	GuardRollback = "rollback"
	// GuardAlert only records and notifies: the rollout goes on.
	GuardAlert = "alert"
)

// RolloutGuard stops a rollout whose bundle fails: once devices made at
// least MinAttempts install attempts of it since the rollout started
// ("set" events plus install failures, capgo.IsFailureAction) and the
// lower bound of the 95% Wilson interval of the failure share exceeds
// MaxFailureRate, the origin's leader pauses or rolls back the rollout
// (Action), committed like an operator's change and audited as the guard.
type RolloutGuard struct {
	// MaxFailureRate is the failure share tolerated, in (0, 1).
	MaxFailureRate float64 `json:"max_failure_rate"`
	// MinAttempts is the sample below which the guard never trips; at
	// least 10.
	MinAttempts int64 `json:"min_attempts"`
	// Action is GuardPause, GuardRollback or GuardAlert.
	Action string `json:"action"`
}

// SetDevice is the body of PUT /api/v1/apps/{app}/devices/{device_id}.
type SetDevice struct {
	Channel string `json:"channel"`
}

// DeviceOverride is one element of GET /api/v1/apps/{app}/devices.
type DeviceOverride struct {
	DeviceID string `json:"device_id"`
	Override
}

// Token roles: what a token may do. Give each client the least it needs.
const (
	// RoleAdmin may do everything, including managing tokens and
	// collecting blobs. The bootstrap token (--admin-token) is an admin.
	RoleAdmin = "admin"
	// RolePublish manages apps, blobs, bundles, channels and devices and
	// reads everything but tokens: what a CI pipeline needs.
	RolePublish = "publish"
	// RoleRead only reads apps, bundles, channels, devices, stats and
	// blobs: dashboards and monitoring.
	RoleRead = "read"
	// RoleEdge is what `aloft edge` needs: the sync routes and blob reads.
	RoleEdge = "edge"
)

// Roles lists every role, most powerful first.
var Roles = []string{RoleAdmin, RolePublish, RoleRead, RoleEdge}

// CreateToken is the body of POST /api/v1/tokens.
type CreateToken struct {
	Name string `json:"name"`
	// Role is one of Roles; empty means RolePublish.
	Role string `json:"role,omitempty"`
	// Apps limits the token to these app ids: routes under
	// /api/v1/apps/{app} for any other app answer 403, and the app list
	// shows only these. Empty: every app. Only publish and read tokens
	// may be scoped; admin and edge tokens are global.
	Apps []string `json:"apps,omitempty"`
	// ExpiresInSeconds makes the token expire this long after the origin
	// stores it, by the leader's clock. Give at most one of it and
	// ExpiresMS; neither means the token never expires.
	ExpiresInSeconds int64 `json:"expires_in_seconds,omitempty"`
	// ExpiresMS is an absolute expiry, Unix milliseconds; it must be in
	// the future.
	ExpiresMS int64 `json:"expires_ms,omitempty"`
	// Secret, when set, is the token's secret, chosen by the client (at
	// least 32 printable characters, e.g. NewSecret()): a retry of a
	// create whose answer was lost then still names the secret that was
	// stored. Empty: the origin picks one, and a lost answer means the
	// token must be revoked and made again.
	Secret string `json:"secret,omitempty"`
}

// NewSecret returns a random token secret in the origin's own format.
func NewSecret() string {
	var b [24]byte
	_, _ = rand.Read(b[:])
	return "aloft_" + hex.EncodeToString(b[:])
}

// Token describes an API token; Secret is filled only once, on creation.
type Token struct {
	Name   string `json:"name"`
	Role   string `json:"role"`
	Prefix string `json:"prefix"`
	Secret string `json:"token,omitempty"`
	// Apps is the token's app scope; empty: every app.
	Apps    []string `json:"apps,omitempty"`
	Created int64    `json:"created_ms"`
	// Expires is when the token stops working, Unix ms; 0: never.
	Expires int64 `json:"expires_ms,omitempty"`
	// LastUsed is the last time the token authenticated a request, Unix
	// ms; 0: not since the answering nodes started. It is kept in each
	// node's memory, not replicated: the listing merges what the
	// cluster's members report (see docs/api.md#tokens).
	LastUsed int64 `json:"last_used_ms,omitempty"`
}

// BlobInfo answers a blob upload.
type BlobInfo struct {
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
}

// WriteResult answers a write that went through raft.
type WriteResult struct {
	Index uint64 `json:"index"`
}

// SelfAssign is the body of PUT /api/v1/sync/self-assign: an edge storing
// an old plugin's own channel choice ("" clears it).
type SelfAssign struct {
	App     string `json:"app"`
	Device  string `json:"device"`
	Channel string `json:"channel"`
}

// CollectGarbage is the body of POST /api/v1/blobs/gc. Without it the
// origin's configured minimum age applies and blobs are deleted.
type CollectGarbage struct {
	// DryRun reports what would be deleted without deleting it.
	DryRun bool `json:"dry_run,omitempty"`
	// MinAgeSeconds overrides how long a blob must have been stored (and
	// unused by any request) before it may go. Nil keeps the default.
	MinAgeSeconds *int64 `json:"min_age_seconds,omitempty"`
}

// GarbageReport answers POST /api/v1/blobs/gc.
type GarbageReport struct {
	DryRun        bool  `json:"dry_run"`
	MinAgeSeconds int64 `json:"min_age_seconds"`
	// Scanned counts every stored blob; Referenced those a bundle uses;
	// Young the unreferenced ones kept because they are recent or were
	// used by a request lately (an upload on its way to a publish).
	Scanned    int   `json:"scanned"`
	Referenced int   `json:"referenced"`
	Young      int   `json:"young"`
	Deleted    int   `json:"deleted"`
	FreedBytes int64 `json:"freed_bytes"`
	// Partials counts abandoned partial uploads and crash leftovers removed.
	Partials   int   `json:"partials"`
	DurationMS int64 `json:"duration_ms"`
	// GraceSeconds, when positive, says the answering node became leader
	// of a multi-node cluster so recently that it kept every blob: the
	// previous leader's "used lately" marks died with its leadership.
	GraceSeconds int64 `json:"grace_seconds,omitempty"`
	// Retired lists the bundles (app@version) apps' retention policies let
	// go before the sweep; their blobs go once unreferenced and old enough.
	Retired []string `json:"retired,omitempty"`
}

// PutAppPolicy is the body of PUT /api/v1/apps/{app}/policy: the fields
// given change, the others stay.
type PutAppPolicy struct {
	RequireEncryption *bool `json:"require_encryption,omitempty"`
	ExposeMetadata    *bool `json:"expose_metadata,omitempty"`
}

// AppPolicyAnswer is an app's policy, with the bundles published before
// encryption was required that it would refuse now (newest last).
type AppPolicyAnswer struct {
	AppPolicy
	Unencrypted []string `json:"unencrypted_bundles"`
}

// SetAppPolicy changes app's policy.
func (c *Client) SetAppPolicy(ctx context.Context, app string, p PutAppPolicy) (AppPolicyAnswer, error) {
	var out AppPolicyAnswer
	return out, c.Do(ctx, http.MethodPut, Prefix+"/apps/"+esc(app)+"/policy", p, "", &out)
}

// AppPolicy reads app's policy.
func (c *Client) AppPolicy(ctx context.Context, app string) (AppPolicyAnswer, error) {
	var out AppPolicyAnswer
	return out, c.Do(ctx, http.MethodGet, Prefix+"/apps/"+esc(app)+"/policy", nil, "", &out)
}
