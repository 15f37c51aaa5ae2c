//go:build !race

package cache

// raceEnabled reports a -race build.
const raceEnabled = false
