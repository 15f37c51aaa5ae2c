// Package webhook delivers Aloft's event notifications to operators'
// HTTPS endpoints, signed as the Standard Webhooks specification
// (https://www.standardwebhooks.com) describes.
//
// A Dispatcher owns one bbolt file holding a durable queue of deliveries
// and a per-endpoint log of attempts. Enqueue puts one (endpoint, event)
// delivery on disk and returns; Run sends what is due, retries failures
// with exponential backoff and jitter (honouring Retry-After) until
// Config.MaxAge has passed since the delivery was queued, and records
// every attempt for Log.
//
// Each request is a POST of the JSON body {"type","timestamp","data"}
// with the headers webhook-id (the event id, the same on every retry and
// after a restart, so receivers can deduplicate), webhook-timestamp (the
// attempt's time, Unix seconds) and webhook-signature ("v1," and the
// base64 HMAC-SHA256 of id.timestamp.body under the endpoint's key).
//
// Delivery is at least once: a receiver may see an event more than once
// (a crash between its answer and our record of it, a leader change) and
// must deduplicate on webhook-id. Deliveries are not ordered, not even
// for one endpoint. A queued delivery keeps the endpoint URL and secret
// it was enqueued with, so rotating a secret affects only deliveries
// queued afterwards.
//
// The package knows nothing of where endpoints are registered or of raft;
// DESIGN.md describes the file layout, the retry policy and how to drive
// a Dispatcher from a raft leader.
package webhook
