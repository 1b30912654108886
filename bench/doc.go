// Command bench runs Loft side by side with RabbitMQ (classic and quorum
// queues) and NATS JetStream on the same machine, through the clients
// applications use (amqp091-go, nats.go's jetstream, franz-go), and
// reports medians, Loft/other ratios and whether the targets of the
// benchmark issue hold. `make bench` builds and runs it.
//
// It starts every broker itself, on loopback, each run with a fresh data
// directory, and stops everything it started: a benchmark never talks to
// a broker that happens to be running. It only measures; it must not
// change how the brokers are configured beyond what makes them durable
// and private (ports, directories), so that their defaults are what is
// compared.
//
// # Usage
//
//	go run ./bench [flags]
//
//	-brokers loft,rabbitmq,rabbitmq-quorum,nats,amqp-null   brokers, in their order within a run
//	-workloads all          names or groups (throughput, latency, kafka), comma-separated
//	-runs 3                 runs of every workload on every broker; medians over them
//	-scale 1                fraction of the default message counts and latency durations
//	-out results.json       the JSON results ("" for none)
//	-loft PATH              a loft binary (default: go build ./cmd/loft into a temp dir,
//	                        which needs the module's tree as working directory)
//	-dir DIR                where data directories go, the disk under test (default $TMPDIR)
//	-stall 30s              a run without progress for this long fails
//	-doc FILE               after the run, write the results into FILE's marked section
//	                        (docs/BENCHMARKS.md; see Docs below)
//	-chart FILE             after the run, draw the chart into FILE (docs/bench.png)
//	-render RESULTS.json    run nothing: write -doc and -chart from a JSON of -out
//
// A quick look (about a minute with every broker installed):
//
//	go run ./bench -runs 1 -scale 0.01 -out /tmp/results.json
//
// The tables go to stdout, a line per finished run to stderr. The exit
// status is 1 when any run failed (an error, or an acknowledged message
// missing), 2 for bad flags.
//
// # Brokers
//
//   - loft: `loft serve --data-dir D --amqp-addr … --kafka-addr …
//     --http-addr … --fsync always --log-level warn`, ready when /readyz
//     answers 200. A confirm means fdatasync covered the message.
//   - rabbitmq: Debian's rabbitmq-server (its script under
//     /usr/lib/rabbitmq/bin first: /usr/sbin's wrapper switches to the
//     rabbitmq user, who cannot write the data directory), default
//     settings but for a loopback listener on a free port; database, logs,
//     Erlang cookie and an epmd of its own live under the data directory.
//     Durable classic queues, persistent messages.
//   - rabbitmq-quorum: the same node, queues declared x-queue-type=quorum.
//   - nats: `nats-server -js -sd DIR -a 127.0.0.1 -p PORT`, default
//     settings; file-storage streams.
//   - amqp-null: a reference, not a competitor. The harness's own binary
//     run as `bench null-amqp -addr …`: an AMQP 0-9-1 server that speaks
//     just what the workloads use, keeps messages in memory, confirms a
//     publish as soon as its body has arrived and delivers from memory
//     (round robin, honouring prefetch). It stores and syncs nothing, so
//     what it reaches is what amqp091-go and the kernel's loopback cost on
//     this machine: the ceiling of any AMQP broker here. No target is
//     judged against it; it appears as a column and in a "limit" row
//     under each throughput target (its msg/s over NATS JetStream's, and
//     Loft's over its).
//
// A broker whose binary is missing is reported as skipped, which is no
// failure. Install the others with
//
//	apt-get install rabbitmq-server nats-server
//
// (`make bench` does, quietly, when it runs as root). Debian's package
// starts a system RabbitMQ node, which does not get in the way but takes
// CPU: `service rabbitmq-server stop` before measuring.
//
// Each broker's version (as it announces itself on connecting) and what
// its acknowledgement means for durability are printed and written with
// the results. NATS 2.9 acknowledges before it fsyncs; Loft and RabbitMQ
// fsync (in batches) first.
//
// # Workloads
//
// Every workload is durable and acknowledged on every broker: AMQP
// publisher confirms on persistent messages to durable queues, consumer
// acks (multiple=false, prefetch 256); JetStream publish acks on a
// file-storage stream and explicit acks on durable pull consumers
// (batches of 256); Kafka acks=all. Each publisher keeps at most 256
// messages unacknowledged (AMQP, JetStream). Counts are for -scale 1.
//
//   - throughput-1KiB: 200,000 messages of 1 KiB, 1 producer, 1 consumer,
//     as fast as acknowledgements allow. msg/s is end to end: messages
//     over first publish to last receipt.
//   - throughput-16B: the same with 500,000 messages of 16 bytes (the
//     header alone).
//   - throughput-4x4: 200,000 messages of 1 KiB, 4 producers (each its own
//     connection and 256 in flight, a quarter of the messages each) and 4
//     competing consumers on one queue (JetStream: on one durable
//     consumer).
//   - latency-1000, latency-5000, latency-20000: 1 KiB messages paced at
//     that many per second for 10 s. p50, p99, p99.9 and max are publish
//     start to consumer receipt; msg/s shows whether the pace was kept.
//     The send time is stamped when the message is handed to the client,
//     after the window admitted it.
//   - fanout: 50,000 messages of 1 KiB, each routed to 10 durable queues by
//     a fanout exchange (JetStream: one stream read by 10 durable
//     consumers), a consumer on each. msg/s counts published messages,
//     deliveries/s all copies.
//   - backlog: 1,000,000 messages of 1 KiB published with no consumer
//     (JetStream: the consumer exists but nobody pulls), then drained by
//     one consumer: publish msg/s (to the last acknowledgement), drain
//     msg/s (consumer start to last receipt) and the broker's peak RSS
//     (its whole process group, /proc, every 100 ms).
//   - delayed (Loft only): 1,000,000 messages of 1 KiB published with
//     confirms at 20,000 msg/s to a durable x-delayed-message exchange,
//     each with x-delay 60 s (scaled with the counts), so that all are
//     held at once; they fire into a queue one consumer drains. Reports
//     how late they arrive after their due time (p50, p99, max), the
//     broker's RSS once all are held and its peak, and the publish rate;
//     a message that arrives early fails the run. RabbitMQ's
//     delayed-message plugin is not in Debian, and JetStream has no
//     delays.
//   - kafka-1, kafka-8 (Loft only): 200,000 records of 1 KiB from a
//     franz-go producer with its defaults (acks=all, idempotent, snappy;
//     the values are random so that compression gains nothing) to a topic
//     of 1 or 8 partitions while a consumer group reads it; produce MB/s to
//     the last acknowledgement, consumed MB/s to the last receipt, and,
//     just before on the same disk, `dd bs=64k oflag=dsync` (4,096 blocks,
//     scaled).
//
// Every workload declares fresh queues (streams, topics) and deletes them
// after. The runs are interleaved: run 1 on every broker in -brokers order
// (each started fresh, all its workloads, then stopped), then run 2.
// After a broker stops and its directory is removed, the harness calls
// sync(2), so that what it left dirty in the page cache (gigabytes from a
// broker that syncs in the background) is written back before the next
// broker starts, not during its fsyncs.
//
// # Verification
//
// Every message starts with its sequence number and its send time (8
// bytes each, big-endian; nanoseconds on the harness's monotonic clock).
// The harness records which sequence numbers the broker acknowledged and,
// per queue, which arrived and how often. A flow ends when every message
// is acknowledged and has arrived on every queue it was routed to. A
// broker nack, a refused publish, a broker-closed channel or connection,
// a body of the wrong size or an unknown sequence number fails the run at
// once; so does a wait that sees no progress for -stall. Then the
// acknowledged messages that never arrived are counted as missing, and
// any missing one fails the run. Deliveries beyond the first are counted
// as duplicates and reported, but do not fail it (redelivery is allowed by
// at-least-once). A failed run keeps its error in the results and has no
// values; medians are over the runs that passed.
//
// # Output
//
// A table of medians per workload and metric, Loft's median over each
// other broker's, the verification counts, the brokers' versions and
// durability, and the targets: for the throughput workloads, Loft at
// least 2× RabbitMQ classic and at least 1× NATS JetStream while fsyncing
// before every acknowledgement; at 5,000 msg/s, Loft's p99 below every
// other broker's and below 1 ms; and, where the null broker ran, whether
// it, storing nothing, reaches NATS JetStream at all. The JSON file (-out) holds the same plus
// every run's values and the machine: CPUs, CPU model, memory, kernel, OS,
// Go version, the data directory's file system, the checkout's commit and
// the client libraries' versions.
//
// # Docs
//
// -doc and -chart turn results into docs/BENCHMARKS.md's section on this
// harness and a PNG, either right after a run or later from its JSON:
//
//	go run ./bench -out results.json -doc docs/BENCHMARKS.md -chart docs/bench.png
//	go run ./bench -render results.json -doc docs/BENCHMARKS.md -chart docs/bench.png
//
// The section lies between the lines <!-- bench:begin --> and
// <!-- bench:end -->; only those lines and what is between them are
// rewritten, everything else in the file is kept byte for byte, and
// rendering the same JSON twice gives the same file. Without the markers
// the section (markers included) is inserted before the file's second
// top-level "# " heading, after the title's own section, or at the end
// when there is none; one marker without the other is an error and
// leaves the file as it was. The section holds the date and commit, the
// command as typed, the machine, each broker's version and what its
// acknowledgement means (brokers that do not fsync before acknowledging
// are named), a table per workload with the medians and Loft/other
// ratios, the verification counts and failures, the targets with their
// verdicts, and the chart, linked by its path relative to the doc.
// Skipped brokers get no columns. Nothing is recomputed: the doc says
// what the JSON says.
//
// The chart (gonum.org/v1/plot) is one PNG, 768 pixels wide, of up to two
// panels of grouped bars, a bar per broker in the same colour in both:
// msg/s of throughput-1KiB, throughput-16B, throughput-4x4 and fanout, and
// p99 in ms of latency-1000, latency-5000 and latency-20000, each bar
// labelled with its figure. A panel without any figure is left out; with
// neither, -chart fails. A run that is interrupted leaves -doc and -chart
// alone (its JSON can still be rendered); a run that failed is rendered,
// and the section says so.
package main
