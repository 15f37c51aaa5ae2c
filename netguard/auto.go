// Caps derived from the descriptor limit, so the listeners of one process
// together never claim every descriptor it has.

package netguard

// minAutoConns is the least AutoMaxConns answers: a server that can hold
// fewer connections than this is not worth starting with a derived cap.
const minAutoConns = 16

// AutoMaxConns is share (0 < share < 1) of the process's descriptor limit,
// at least 16 and at most ceiling; ceiling when the limit is unknown. Give
// each listener of a process its own share and keep their sum well under
// 1: the rest is for the raft log, blob files and outbound connections.
func AutoMaxConns(share float64, ceiling int) int {
	limit := FileLimit()
	if limit == 0 {
		return ceiling
	}
	n := int(float64(limit) * share)
	if uint64(n) > limit { // overflow on absurd limits
		n = ceiling
	}
	return max(minAutoConns, min(n, ceiling))
}
