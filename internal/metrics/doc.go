// Package metrics exposes Loft's metrics in the Prometheus text format
// (github.com/prometheus/client_golang): one registry holding the Go
// runtime and process collectors and Collector, which reads the broker's
// own counts when scraped.
//
// # What it owns
//
//   - The names, types, labels and help of every loft_* metric; see
//     docs/HTTP.md ("Metrics") for the list.
//   - The fsync latency histogram (Syncs), kept with atomics in fixed
//     buckets and handed to the log engine as its OnSync hook, and the
//     count of damaged data found on disk (Corruption), its OnCorrupt hook.
//
// # What it must not do
//
// It is the only package that imports Prometheus. The packages it reads
// (queue, vhost, broker, group, logstore, amqp, kafka) keep plain atomic
// counters and answer a Stats-like call; nothing here sits on a hot path.
// Labels are bounded by the model (vhost and queue, topic and partition,
// group, protocol, and a fixed set of error codes): never a message id, a
// connection or a client address.
package metrics
