//go:build race

package main

// raceEnabled: the tests run under the race detector, whose overhead the
// memory assertions would measure.
const raceEnabled = true
