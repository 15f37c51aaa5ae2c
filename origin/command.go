// The raft log envelope. Every entry is a Command: a type (0 is invalid), a
// format version, an idempotency key, the leader's timestamp and a JSON
// payload. The leader fills in everything non-deterministic (time, random
// ids) before Apply, so the FSM stays pure.

package origin

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/aloft/aloft/origin/api"
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
	cmdMax
)

// commandVersion is the envelope format version written by this build.
const commandVersion = 1

// ErrBadCommand means a log entry cannot be decoded.
var ErrBadCommand = errors.New("origin: undecodable command")

// Command is one raft log entry.
type Command struct {
	Type    CommandType     `json:"t"`
	Version int             `json:"v"`
	Key     string          `json:"k,omitempty"`
	Time    int64           `json:"ts"` // leader's clock, Unix ms
	Data    json.RawMessage `json:"d"`
}

type createAppCmd struct {
	AppID string `json:"app_id"`
	Name  string `json:"name"`
}

type putBundleCmd struct {
	App    string     `json:"app"`
	Bundle api.Bundle `json:"bundle"`
}

type deleteBundleCmd struct {
	App     string `json:"app"`
	Version string `json:"version"`
}

type putChannelCmd struct {
	App  string         `json:"app"`
	Name string         `json:"name"`
	Spec api.PutChannel `json:"spec"`
	// RolloutID is a fresh random id the FSM uses if this command starts
	// a new rollout.
	RolloutID string `json:"rollout_id"`
}

type deleteChannelCmd struct {
	App  string `json:"app"`
	Name string `json:"name"`
}

type setOverrideCmd struct {
	App     string `json:"app"`
	Device  string `json:"device"`
	Channel string `json:"channel"` // "" removes the override
	SelfSet bool   `json:"self_set"`
}

type putTokenCmd struct {
	Hash   string `json:"hash"`
	Name   string `json:"name"`
	Prefix string `json:"prefix"`
	Role   string `json:"role,omitempty"`
	// Apps is the app scope, lower-case and sorted; empty: every app.
	Apps []string `json:"apps,omitempty"`
	// Expires is the leader's absolute expiry, Unix ms; 0: never.
	Expires int64 `json:"expires_ms,omitempty"`
}

type deleteTokenCmd struct {
	Name string `json:"name"`
}

type addStatsCmd struct {
	Batch api.StatsBatch `json:"batch"`
}

// encodeCommand builds an envelope around payload.
func encodeCommand(t CommandType, key string, now int64, payload any) ([]byte, error) {
	d, err := json.Marshal(payload)
	if err != nil {
		return nil, fmt.Errorf("origin: encode command: %w", err)
	}
	return json.Marshal(Command{Type: t, Version: commandVersion, Key: key, Time: now, Data: d})
}

// DecodeCommand parses a log entry, refusing unknown types and versions.
func DecodeCommand(b []byte) (Command, error) {
	var c Command
	if err := json.Unmarshal(b, &c); err != nil {
		return Command{}, fmt.Errorf("%w: %w", ErrBadCommand, err)
	}
	if c.Type == cmdInvalid || c.Type >= cmdMax {
		return Command{}, fmt.Errorf("%w: type %d", ErrBadCommand, c.Type)
	}
	if c.Version != commandVersion {
		return Command{}, fmt.Errorf("%w: version %d", ErrBadCommand, c.Version)
	}
	return c, nil
}
