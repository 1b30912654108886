//go:build race

package main

// raceEnabled makes the end-to-end tests build the binary with -race too,
// so data races in the real process fail `go test -race`.
const raceEnabled = true
