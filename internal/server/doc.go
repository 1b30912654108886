// Package server owns the lifecycle of one Loft process: it claims the data
// directory, opens the storage, starts the listeners, and on cancellation
// takes them down again in the order that keeps acknowledged data safe.
//
// # Startup
//
// Run creates the data directory if missing, takes an exclusive lock on
// <data-dir>/LOCK (so a second process fails at once instead of corrupting
// the logs), starts the HTTP listener, opens the log store (recovering it
// after a crash) and only then reports ready on GET /readyz. GET /healthz
// answers as soon as the HTTP listener is up, so a long recovery is not
// mistaken for a dead process.
//
// # Shutdown
//
// Listeners stop accepting first, so no new appends arrive; then the store
// closes, completing and syncing in-flight appends; the lock goes last, so
// no other process can open the logs while they are still being written.
// The whole sequence is bounded by ShutdownTimeout.
//
// # What this package must not do
//
// It holds no protocol, routing or storage logic: it wires the packages that
// do and decides the order in which they start and stop.
package server
