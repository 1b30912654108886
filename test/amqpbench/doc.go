// Package amqpbench measures Loft's durable AMQP queues end to end, side by
// side with RabbitMQ and NATS JetStream in the same `go test -bench` run, on
// the workloads of the reference figures Loft has to beat. It holds only
// benchmarks; `make bench` runs them.
//
// Absolute figures drift between runs and machines (the reference machine
// is a shared 2-vCPU VM where broker and load generator share the cores):
// compare brokers only within one run, as ratios.
//
// # Workloads
//
// Every broker gets the same semantics. The queue is durable and messages
// are persistent (delivery mode 2), published to it through the default
// exchange on a channel in confirm mode, at most 256 unconfirmed; one
// consumer with prefetch 256 acknowledges every message on its own
// (basic.ack, multiple=false). Publisher and consumer have a connection
// each. JetStream: a file-storage stream, PublishAsync with at most 256 acks
// outstanding, a durable pull consumer with explicit acks pulling batches of
// 256 (nats.go's jetstream Messages), each message acked.
//
// Each body starts with the message's sequence number and its publish start
// time (8 bytes each, big-endian; nanoseconds on this process's monotonic
// clock); the rest is random bytes. Every run checks that every message
// arrived exactly once: a duplicate, an unknown sequence number, a body of
// the wrong size, a nack, a broker closing the channel or connection (540
// NOT_IMPLEMENTED included) fail it at once, and so does any wait that sees
// no progress for 30 s, naming the first missing messages.
//
//   - BenchmarkThroughput1KiB: 200,000 messages of 1 KiB, published as fast
//     as confirms allow while the consumer drains the queue. msgs/s is end
//     to end: messages over first publish to last receipt.
//   - BenchmarkThroughput16B: the same with 500,000 messages of 16 bytes,
//     which are just the sequence number and send time.
//   - BenchmarkLatency1KiB: 1 KiB messages paced at a fixed 5,000 msg/s for
//     10 s. p50-µs, p99-µs, p99.9-µs and max-µs are publish start to
//     consumer receipt; msgs/s shows the rate was kept.
//   - BenchmarkDelayedMillion (Loft only: Debian has no delayed-message
//     plugin for RabbitMQ, and JetStream no delays): 1,000,000 messages of
//     1 KiB published at 20,000 msg/s with x-delay 60 s to a durable
//     x-delayed-message exchange, so that all are held at once, then fired
//     into a queue one consumer drains. It reports the broker's RSS with
//     all of them held (rss-all-pending-MiB) and its peak, and how late
//     they arrived after their due time (late-p50/p99/max-ms); an early or
//     missing message fails it. About two minutes.
//
// # Brokers
//
// Each workload has a sub-benchmark per broker, each started fresh for it
// on loopback with a new data directory under LOFT_BENCH_DIR, and stopped
// (SIGTERM) at its end:
//
//   - broker=loft: `loft serve --fsync always --log-level warn` through
//     internal/loftproc, built once in TestMain. Loft confirms a message
//     only once it is fsynced.
//   - broker=rabbitmq: a classic queue on rabbitmq-server, default settings
//     but for a loopback listener on a free port; database, logs, Erlang
//     cookie and an epmd of its own live in the data directory, so it needs
//     no free default ports and leaves nothing running.
//   - broker=rabbitmq-quorum: the same with x-queue-type=quorum.
//   - broker=nats: `nats-server -js -sd DIR -a 127.0.0.1 -p PORT`.
//
// rabbitmq-server (Debian's /usr/lib/rabbitmq/bin/rabbitmq-server first,
// then PATH) and nats-server come from Debian's packages:
//
//	apt-get install rabbitmq-server nats-server
//
// When one is missing its sub-benchmarks are skipped with a message.
// Debian's rabbitmq-server package starts a system node where it can; that
// node does not get in the way of the benchmark's own, but it competes for
// the CPU: `service rabbitmq-server stop`.
//
// # Running
//
// Everything, median of 3 (what `make bench` runs). A pass takes about two
// and a half minutes on the reference machine, so three outlast go test's
// default 10-minute timeout:
//
//	go test -run '^$' -bench . -benchtime 1x -count 3 -timeout 60m ./test/amqpbench/
//
// One workload or broker (sub-benchmark names are matched unanchored, so
// anchor rabbitmq to leave rabbitmq-quorum out):
//
//	go test -run '^$' -bench 'Throughput1KiB/broker=rabbitmq$' -benchtime 1x ./test/amqpbench/
//	go test -run '^$' -bench '/broker=loft' -benchtime 1x ./test/amqpbench/
//
// A quick check of the harness:
//
//	LOFT_BENCH_MESSAGES=20000 LOFT_BENCH_DURATION=2s LOFT_BENCH_DELAYED=20000 LOFT_BENCH_DELAY=2s go test -run '^$' -bench . -benchtime 1x ./test/amqpbench/
//
// Each benchmark iteration is one full run of its workload, so the default
// -benchtime (1s) also runs each once; -benchtime Nx runs N, on one broker
// with a fresh queue each, and reports their aggregate. ns/op is the time
// of one run, the broker's start excluded.
//
// # Environment
//
//   - LOFT_BENCH_DIR: where data directories go, the disk under test
//     (default the system temp dir).
//   - LOFT_BENCH_MESSAGES: messages per throughput run, both sizes
//     (default 200,000 for 1 KiB, 500,000 for 16 B).
//   - LOFT_BENCH_RATE, LOFT_BENCH_DURATION: the latency workload's pace and
//     length (default 5000 msg/s for 10s).
//   - LOFT_BENCH_DELAYED, LOFT_BENCH_DELAY, LOFT_BENCH_DELAYED_RATE: the
//     delayed workload's messages, delay and publish rate (default
//     1,000,000, 60s and 20,000 msg/s).
package amqpbench
