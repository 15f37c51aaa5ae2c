// Wire types of scheduled channel changes.

package api

import (
	"context"
	"net/http"
)

// ScheduleChannel is the body of POST /api/v1/apps/{app}/channels/{name}/schedule:
// Change is applied to the channel at At (the leader's clock), once.
type ScheduleChannel struct {
	// At is when, as RFC 3339 ("2026-12-04T09:00:00Z"); or AtMS, Unix ms.
	At   string `json:"at,omitempty"`
	AtMS int64  `json:"at_ms,omitempty"`
	// Change is any channel change: a rollout step, a pause, a promote, a
	// rollback, a new bundle, a policy.
	Change PutChannel `json:"change"`
}

// Schedule is a scheduled channel change and, once due, what came of it.
type Schedule struct {
	ID      string     `json:"id"`
	App     string     `json:"app"`
	Channel string     `json:"channel"`
	At      int64      `json:"at_ms"`
	Change  PutChannel `json:"change"`
	Created int64      `json:"created_ms"`
	// Actor is who scheduled it; the change itself is audited as
	// "schedule:<id>".
	Actor string `json:"actor"`
	// Fired is when it took effect (Unix ms, the leader's clock at the
	// raft entry), 0 while pending; FiredIndex is that entry's index.
	Fired      int64  `json:"fired_ms,omitempty"`
	FiredIndex uint64 `json:"fired_index,omitempty"`
	// Error says why the change could not be applied when it fell due
	// (the bundle was deleted, say); the channel was left as it was.
	Error string `json:"error,omitempty"`
	// Cancelled is when an operator cancelled it (Unix ms).
	Cancelled int64 `json:"cancelled_ms,omitempty"`
}

// Pending reports whether the change has yet to take effect.
func (s Schedule) Pending() bool { return s.Fired == 0 && s.Cancelled == 0 }

// MaxPendingSchedules bounds an app's pending scheduled changes.
const MaxPendingSchedules = 100

// ScheduleChannelChange schedules a channel change.
func (c *Client) ScheduleChannelChange(ctx context.Context, app, channel string, s ScheduleChannel) (Schedule, error) {
	var out Schedule
	return out, c.Do(ctx, http.MethodPost, Prefix+"/apps/"+esc(app)+"/channels/"+esc(channel)+"/schedule", s, "", &out)
}

// Schedules lists an app's scheduled changes: pending ones first (soonest
// first), then the latest that fired or were cancelled.
func (c *Client) Schedules(ctx context.Context, app string) ([]Schedule, error) {
	var out []Schedule
	return out, c.Do(ctx, http.MethodGet, Prefix+"/apps/"+esc(app)+"/schedules", nil, "", &out)
}

// CancelSchedule cancels a pending change.
func (c *Client) CancelSchedule(ctx context.Context, app, id string) (Schedule, error) {
	var out Schedule
	return out, c.Do(ctx, http.MethodDelete, Prefix+"/apps/"+esc(app)+"/schedules/"+esc(id), nil, "", &out)
}
