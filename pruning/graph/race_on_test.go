//go:build race

package graph_test

// raceEnabled: the race detector's sync.Pool drops items at random, so a steady
// state allocates now and then; allocation counts are not checked under it.
const raceEnabled = true
