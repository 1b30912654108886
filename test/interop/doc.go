// Package interop drives a real `loft serve` process with clients from
// outside this project's code: for Kafka kcat (librdkafka), kafkajs
// (Node.js) and sarama (Go); for AMQP pika (Python), amqp-tools
// (rabbitmq-c) and amqp091-go. It also holds the tests that need a real
// process: SIGKILL under confirmed publishing and restart, durable
// topology across a crash, a backlog larger than memory, resource alarms,
// and raw-socket abuse of the AMQP port. It holds only tests.
//
// A test that needs an outside tool skips when the tool is missing on a
// developer's machine, but fails when CI is set: .ci/run installs every
// tool, so CI always runs them.
package interop
