// Package netguard keeps a TCP listener serving while clients misbehave.
//
// An update server is public: anyone can open connections to it and never
// send a byte. Left alone, such a flood exhausts the process's file
// descriptors, the accept loop fails, and the HTTP library gives up for
// good. A Listener wrapped here instead
//
//   - retries failed accepts with backoff, never returning an error but the
//     listener's own close, and frees a descriptor (the oldest idle
//     connection) when the process has run out;
//   - caps the connections it holds open, in all and per client IP, so one
//     listener can never take the descriptors another one (or the raft
//     log) needs;
//   - closes idle connections first (oldest first) when a cap is near, so
//     a client with a request to send displaces one that holds a
//     connection open doing nothing;
//   - answers what it must still turn away with a short 503 and a
//     Retry-After, so well-behaved clients back off instead of retrying
//     at once.
//
// The HTTP server tells the Listener which connections are idle through
// Track, called from its connection-state hook (fasthttp's and net/http's
// ConnState both fit). The package uses only the standard library, so it
// knows nothing of either server.
package netguard
