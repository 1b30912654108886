// Package kafkabench measures Loft's Kafka produce path end to end: a real
// `loft serve` process, franz-go clients, acks=all, against the disk's own
// durable write bandwidth (dd bs=64k oflag=dsync) measured in the same run.
// It holds only benchmarks; `make bench` runs them.
package kafkabench
