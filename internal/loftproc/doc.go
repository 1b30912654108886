// Package loftproc runs real `loft serve` processes for tests and
// benchmarks outside the binary's own package: it builds the binary once
// and starts servers on free loopback ports, waiting until they are ready
// and stopping them with SIGTERM when the test ends. Test support, like
// net/http/httptest: nothing in the broker imports it.
package loftproc
