//go:build race

package scenario

// raceEnabled reports whether the tests run under the race detector, whose
// overhead makes the exhaustive loops sample instead.
const raceEnabled = true
