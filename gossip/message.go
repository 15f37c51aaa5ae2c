// The wire form of an announcement ("catalog index N with digest D
// exists, first announced by member M"), used both for broadcasts and
// for the push/pull state, and the broadcast that carries it.

package gossip

import (
	"encoding/binary"
	"errors"

	"github.com/hashicorp/memberlist"
)

// Message kinds, the first byte of every user message and of the
// push/pull state. 0 is never sent, so a zeroed buffer is not a message.
const (
	kindAnnounce byte = 1 // a broadcast of one announcement
	kindState    byte = 2 // push/pull: the newest announcement the sender knows
	kindDirect   byte = 3 // Send: a payload for the caller, to one member
)

// MaxMessage bounds a Send payload so that, with its header (the
// longest name), the encryption overhead and the longest cluster label,
// it fits memberlist's 1400-byte packet budget: one UDP datagram that a
// 1500-byte MTU carries unfragmented, since a lost fragment loses it all.
const MaxMessage = 1400 - 1 - 1 - MaxNameLen - 64 - 255

// ErrMessageTooLarge is returned by Send for a payload over MaxMessage.
var ErrMessageTooLarge = errors.New("gossip: message over MaxMessage bytes")

// encodeDirect lays out: kind, uvarint sender length, sender, payload.
func encodeDirect(from string, msg []byte) []byte {
	b := make([]byte, 0, 1+binary.MaxVarintLen16+len(from)+len(msg))
	b = append(b, kindDirect)
	b = binary.AppendUvarint(b, uint64(len(from)))
	b = append(b, from...)
	return append(b, msg...)
}

// decodeDirect reads encodeDirect's layout (b starts after the kind);
// the payload aliases b.
func decodeDirect(b []byte) (from string, msg []byte, err error) {
	l, n := binary.Uvarint(b)
	if n <= 0 || l == 0 || l > MaxNameLen || l > uint64(len(b)-n) {
		return "", nil, errBadMessage
	}
	return string(b[n : n+int(l)]), b[n+int(l):], nil
}

// digestSize is the length of a catalog digest (SHA-256).
const digestSize = 32

// errBadMessage reports a message this version cannot read.
var errBadMessage = errors.New("gossip: malformed message")

// wireAnnouncement is an announcement as it travels: the origin is a
// name only, resolved to a Member on receipt.
type wireAnnouncement struct {
	origin string
	index  uint64
	digest [digestSize]byte
}

// encode lays out: kind, uvarint index, digest, uvarint origin length,
// origin. Bytes after the origin are ignored on decode so a later
// version can append fields.
func (a wireAnnouncement) encode(kind byte) []byte {
	b := make([]byte, 0, 1+binary.MaxVarintLen64+digestSize+binary.MaxVarintLen16+len(a.origin))
	b = append(b, kind)
	b = binary.AppendUvarint(b, a.index)
	b = append(b, a.digest[:]...)
	b = binary.AppendUvarint(b, uint64(len(a.origin)))
	return append(b, a.origin...)
}

// decodeAnnouncement reads encode's layout and returns the kind.
func decodeAnnouncement(b []byte) (byte, wireAnnouncement, error) {
	var a wireAnnouncement
	if len(b) == 0 {
		return 0, a, errBadMessage
	}
	kind := b[0]
	b = b[1:]
	var n int
	if a.index, n = binary.Uvarint(b); n <= 0 || a.index == 0 {
		return 0, a, errBadMessage
	}
	b = b[n:]
	if len(b) < digestSize {
		return 0, a, errBadMessage
	}
	copy(a.digest[:], b)
	b = b[digestSize:]
	l, n := binary.Uvarint(b)
	if n <= 0 || l == 0 || l > uint64(len(b)-n) {
		return 0, a, errBadMessage
	}
	a.origin = string(b[n : n+int(l)])
	return kind, a, nil
}

// broadcast queues one announcement in a TransmitLimitedQueue. It is
// named by its origin, so a newer announcement from the same origin
// replaces an older one still queued: the queue holds at most one entry
// per member, however fast announcements come.
type broadcast struct {
	origin string
	msg    []byte
}

// Invalidates follows memberlist's NamedBroadcast contract.
func (b *broadcast) Invalidates(other memberlist.Broadcast) bool {
	nb, ok := other.(memberlist.NamedBroadcast)
	return ok && nb.Name() == b.Name()
}

// Name is the origin: one queued announcement per origin.
func (b *broadcast) Name() string { return "announce/" + b.origin }

// Message is the encoded announcement.
func (b *broadcast) Message() []byte { return b.msg }

// Finished needs no action: nobody waits for an announcement to drain.
func (b *broadcast) Finished() {}
