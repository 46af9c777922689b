//go:build !race

package testenv

// RaceBuild reports a binary built with the race detector.
const RaceBuild = false
