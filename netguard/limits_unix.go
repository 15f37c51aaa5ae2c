//go:build unix

// Descriptor limits: how many connections a process can hold at all.

package netguard

import "syscall"

// RaiseFileLimit raises the process's soft RLIMIT_NOFILE to its hard
// limit and returns the limit now in force. (Go's runtime already does so
// at start on Linux; doing it here keeps that true however the binary is
// built or started, and gives the caller the figure its caps derive from.)
func RaiseFileLimit() (uint64, error) {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
		return 0, err
	}
	if r.Cur < r.Max {
		want := r
		want.Cur = want.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want); err != nil {
			return r.Cur, err
		}
		r = want
	}
	return r.Cur, nil
}

// FileLimit returns the process's soft RLIMIT_NOFILE, 0 when unknown.
func FileLimit() uint64 {
	var r syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r) != nil {
		return 0
	}
	return r.Cur
}
