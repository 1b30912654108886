// Package interop drives a real `loft serve` process with clients from
// outside this project's code: kcat (librdkafka), kafkajs (Node.js) and
// sarama (Go). It holds only tests.
//
// A test that needs an outside tool skips when the tool is missing on a
// developer's machine, but fails when CI is set: .ci/run installs every
// tool, so CI always runs them.
package interop
