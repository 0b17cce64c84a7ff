//go:build race

package enforcer

// raceEnabled: the race detector changes what escapes to the heap.
const raceEnabled = true
