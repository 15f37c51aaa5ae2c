// The raft log envelope. Every entry is a Command: a type (0 is invalid), a
// format version, an idempotency key, the leader's timestamp and a JSON
// payload. The leader fills in everything non-deterministic (time, random
// ids) before Apply, so the FSM stays pure.

package origin

import (
	"encoding/json"
	"errors"
	"fmt"
)

// CommandType names a kind of log entry. Zero is reserved as invalid so a
// zeroed or truncated entry can never be mistaken for a real one.
type CommandType uint8

// Command types. Append only: the numbers are in every raft log.
const (
	cmdInvalid CommandType = iota
	cmdCreateApp
	cmdPutBundle
	cmdDeleteBundle
	cmdPutChannel
	cmdDeleteChannel
	cmdSetOverride
	cmdPutToken
	cmdDeleteToken
	cmdAddStats
	cmdInitCatalog
	cmdSetMember
	cmdDeleteMember
	cmdSetRetention
	cmdSetSigningKey
	cmdSetOverrides
	cmdPutWebhook
	cmdDeleteWebhook
	cmdSetAppPolicy
	cmdPutSchedule
	cmdCancelSchedule
	cmdFireSchedule
	cmdPutPreview
	cmdRevokePreview
	cmdMax
)

// commandVersion is the format version of the entries this build
// writes. DecodeCommand reads every version from 1 up to it.
//
//   - 1: type, version, key, leader time, payload; payloads embedded api
//     wire types.
//   - 2: adds the actor (who asked); payloads are the log's own types
//     (logtypes.go) with the JSON names version 1 wrote. Only version 2
//     entries are audited: a version 1 entry names no actor, and snapshots
//     of version 1 builds hold no audit log, so a replica that replays
//     old entries and one that restored an old snapshot agree.
//   - 3: adds cmdSetRetention (per-app bundle retention), token scopes
//     and expiry (optional fields), keeps revoked tokens (revokeKeepsSince)
//     and remembers stats batches in their own window (statsWindowSince);
//     older entries decode as they are and apply as they did.
//   - 4: adds cmdSetSigningKey (catalog signing keys, signing.go).
//   - 5: adds cmdSetOverrides (devices' own channel choices, many per
//     entry: selfassign.go).
//   - 6: adds cmdPutWebhook and cmdDeleteWebhook (webhooks.go) and
//     cmdSetAppPolicy (policy.go) and cmdPutSchedule, cmdCancelSchedule,
//     cmdFireSchedule (schedule.go), cmdPutPreview and cmdRevokePreview
//     (preview.go); a rollout
//     started by a version 6 entry records its start (guardsSince), and
//     channel specs may carry a rollout guard and conditions (optional
//     fields).
const commandVersion = 6

// ErrBadCommand means a log entry cannot be decoded.
var ErrBadCommand = errors.New("origin: undecodable command")

// Command is one raft log entry.
type Command struct {
	Type CommandType `json:"t"`
	// Version is the format the writer used; decoding upgrades older
	// payloads but keeps it, since apply audits only version 2 on.
	Version int    `json:"v"`
	Key     string `json:"k,omitempty"`
	Time    int64  `json:"ts"` // leader's clock, Unix ms
	// Actor is who asked for the change: the name of the token the leader
	// authenticated, or "origin:<node id>" for a node's own duties (no
	// token name holds a colon). Version 2 on.
	Actor string          `json:"a,omitempty"`
	Data  json.RawMessage `json:"d"`
}

// encodeCommand builds an envelope around payload.
func encodeCommand(t CommandType, key, actor string, now int64, payload any) ([]byte, error) {
	d, err := json.Marshal(payload)
	if err != nil {
		return nil, fmt.Errorf("origin: encode command: %w", err)
	}
	return json.Marshal(Command{Type: t, Version: commandVersion, Key: key, Time: now, Actor: actor, Data: d})
}

// DecodeCommand parses a log entry of any version up to commandVersion
// and upgrades it to the current payload shapes. An unknown type or a
// newer version is refused, never guessed at: a replica that skipped an
// entry or read it differently from the others would hold another state
// from then on, silently. fsm.Apply panics on the error instead, so the
// node stops until it runs a build that reads the entry.
func DecodeCommand(b []byte) (Command, error) {
	var c Command
	if err := json.Unmarshal(b, &c); err != nil {
		return Command{}, fmt.Errorf("%w: %w", ErrBadCommand, err)
	}
	if c.Type == cmdInvalid || c.Type >= cmdMax {
		return Command{}, fmt.Errorf("%w: type %d", ErrBadCommand, c.Type)
	}
	switch {
	case c.Version > commandVersion:
		return Command{}, fmt.Errorf("%w: version %d (this build reads versions 1 to %d; a newer build wrote it: upgrade this node)",
			ErrBadCommand, c.Version, commandVersion)
	case c.Version < 1:
		return Command{}, fmt.Errorf("%w: version %d (no build writes it)", ErrBadCommand, c.Version)
	}
	return upgradeCommand(c)
}

// upgradeCommand is the one place where older entries are brought to the
// current shapes, one version step at a time.
func upgradeCommand(c Command) (Command, error) {
	if c.Type >= cmdPutWebhook && c.Version < 6 {
		return Command{}, fmt.Errorf("%w: webhook, app policy and schedule entries start at version 6, this one says %d", ErrBadCommand, c.Version)
	}
	if c.Type == cmdSetOverrides && c.Version < 5 {
		return Command{}, fmt.Errorf("%w: batched override entries start at version 5, this one says %d", ErrBadCommand, c.Version)
	}
	if c.Type == cmdSetSigningKey && c.Version < 4 {
		return Command{}, fmt.Errorf("%w: signing key entries start at version 4, this one says %d", ErrBadCommand, c.Version)
	}
	if c.Type == cmdSetRetention && c.Version < 3 {
		// No build wrote one: version 2 builds did not know the type.
		return Command{}, fmt.Errorf("%w: retention entries start at version 3, this one says %d", ErrBadCommand, c.Version)
	}
	if c.Version == 1 {
		// Version 1 payloads decode into the log types as they are (same
		// JSON names). It had no actor: an entry claiming one was not
		// written by any build.
		if c.Actor != "" {
			return Command{}, fmt.Errorf("%w: a version 1 entry names an actor", ErrBadCommand)
		}
	}
	return c, nil
}
