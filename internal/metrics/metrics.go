package metrics

import (
	"log/slog"
	"net/http"
	"strconv"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/loftmq/loft/internal/amqp"
	"github.com/loftmq/loft/internal/broker"
	"github.com/loftmq/loft/internal/group"
	"github.com/loftmq/loft/internal/kafka"
	"github.com/loftmq/loft/internal/vhost"
)

// Sources are what a scrape reads. Any of them may be nil: its metrics
// are then left out (a listener that is disabled, a model not yet open).
type Sources struct {
	Queues     QueueSource
	Partitions PartitionSource
	Groups     GroupSource
	AMQP       AMQPSource
	Kafka      KafkaSource
}

// QueueSource is *vhost.Hosts.
type QueueSource interface {
	QueueStats() []vhost.QueueStats
}

// PartitionSource is *broker.Broker.
type PartitionSource interface {
	Stats() []broker.PartitionStats
}

// GroupSource is *group.Coordinator.
type GroupSource interface {
	Committed() []group.Committed
}

// AMQPSource is *amqp.Server.
type AMQPSource interface {
	Stats() amqp.Stats
}

// KafkaSource is *kafka.Server.
type KafkaSource interface {
	Stats() kafka.Stats
}

// Collector is a prometheus.Collector reading Loft's counts at scrape
// time. Create it with New before the log store opens (its Syncs is the
// store's OnSync hook) and give it the model with SetSources once open.
type Collector struct {
	syncs   Syncs
	corrupt Corruption
	sources atomic.Pointer[Sources]
	reg     *prometheus.Registry
	handler http.Handler
}

// New returns a Collector registered, with the Go runtime and process
// collectors, in a registry of its own. A nil logger discards the
// handler's errors.
func New(logger *slog.Logger) *Collector {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	c := &Collector{reg: prometheus.NewRegistry()}
	c.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		c,
	)
	c.handler = promhttp.HandlerFor(c.reg, promhttp.HandlerOpts{
		ErrorLog:      slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
		ErrorHandling: promhttp.ContinueOnError,
	})
	return c
}

// Syncs is the fsync histogram, for logstore.Options.OnSync.
func (c *Collector) Syncs() *Syncs { return &c.syncs }

// Corruption is the damaged-data counter, for logstore.Options.OnCorrupt.
func (c *Collector) Corruption() *Corruption { return &c.corrupt }

// SetSources sets (nil: clears) what scrapes read.
func (c *Collector) SetSources(s *Sources) { c.sources.Store(s) }

// ServeHTTP serves the registry in the Prometheus exposition formats.
func (c *Collector) ServeHTTP(w http.ResponseWriter, r *http.Request) { c.handler.ServeHTTP(w, r) }

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(name, help, labels, nil)
}

var (
	queueLabels     = []string{"vhost", "queue"}
	partitionLabels = []string{"topic", "partition"}

	queueReady        = desc("loft_queue_messages_ready", "Messages ready to be delivered.", queueLabels...)
	queueUnacked      = desc("loft_queue_messages_unacked", "Messages delivered and not yet acknowledged.", queueLabels...)
	queueConsumers    = desc("loft_queue_consumers", "Consumers of the queue.", queueLabels...)
	queuePublished    = desc("loft_queue_published_total", "Messages stored in the queue since it was opened.", queueLabels...)
	queueDelivered    = desc("loft_queue_delivered_total", "Messages delivered to consumers or taken by basic.get, with or without ack.", queueLabels...)
	queueRedelivered  = desc("loft_queue_redelivered_total", "Deliveries of messages delivered before (requeued, or unacked at a restart).", queueLabels...)
	queueAcked        = desc("loft_queue_acked_total", "Messages acknowledged by consumers.", queueLabels...)
	queueDeadLettered = desc("loft_queue_dead_lettered_total", "Messages handed to the dead-letter exchange: rejected, expired, or past a length or delivery limit.", queueLabels...)

	partStart   = desc("loft_partition_start_offset", "First offset that may be read (log start offset).", partitionLabels...)
	partEnd     = desc("loft_partition_end_offset", "Offset after the last readable record (high watermark).", partitionLabels...)
	partBytes   = desc("loft_partition_bytes", "Bytes of the partition's segments.", partitionLabels...)
	partRecords = desc("loft_partition_produced_records_total", "Records appended by Produce.", partitionLabels...)
	partBatches = desc("loft_partition_produced_batches_total", "Record batches appended by Produce.", partitionLabels...)
	partInBytes = desc("loft_partition_produced_bytes_total", "Bytes of record batches appended by Produce.", partitionLabels...)
	partFetched = desc("loft_partition_fetched_bytes_total", "Bytes of record batches read by Kafka Fetch and stream-queue consumers.", partitionLabels...)

	groupOffset = desc("loft_group_committed_offset", "Offset a consumer group committed.", "group", "topic", "partition")
	groupLag    = desc("loft_group_lag", "Records between a group's committed offset and the partition's end offset.", "group", "topic", "partition")

	fsyncTotal   = desc("loft_fsync_total", "fdatasync calls made for appended data (group commits and interval syncs).")
	fsyncFailed  = desc("loft_fsync_errors_total", "fdatasync calls for appended data that failed.")
	fsyncSeconds = desc("loft_fsync_seconds", "Latency of fdatasync for appended data.")

	corruptBatches = desc("loft_storage_corrupt_batches_total",
		"Damaged ranges of stored batches found on disk (by recovery or a read), by log: reads of the offsets they held fail.", "log")

	connections = desc("loft_connections", "Open client connections, handshakes included.", "protocol")
	channels    = desc("loft_channels", "Open AMQP channels.", "protocol")
	rejected    = desc("loft_requests_rejected_total",
		"Requests refused or failed: AMQP channel and connection closes by reply code, Kafka error codes sent in responses.",
		"protocol", "reason")
)

// Describe sends every metric's description.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		queueReady, queueUnacked, queueConsumers, queuePublished, queueDelivered, queueRedelivered, queueAcked, queueDeadLettered,
		partStart, partEnd, partBytes, partRecords, partBatches, partInBytes, partFetched,
		groupOffset, groupLag, fsyncTotal, fsyncFailed, fsyncSeconds, corruptBatches, connections, channels, rejected,
	} {
		ch <- d
	}
}

// Collect reads every source once and sends the metrics.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	c.collectSyncs(ch)
	for _, cc := range c.corrupt.snapshot() {
		counter(ch, corruptBatches, cc.n, cc.log)
	}
	s := c.sources.Load()
	if s == nil {
		return
	}
	if s.Queues != nil {
		collectQueues(ch, s.Queues.QueueStats())
	}
	var parts []broker.PartitionStats
	if s.Partitions != nil {
		parts = s.Partitions.Stats()
		collectPartitions(ch, parts)
	}
	if s.Groups != nil {
		collectGroups(ch, s.Groups.Committed(), parts)
	}
	if s.AMQP != nil {
		st := s.AMQP.Stats()
		gauge(ch, connections, float64(st.Connections), "amqp")
		gauge(ch, channels, float64(st.Channels), "amqp")
		for _, r := range st.Rejected {
			counter(ch, rejected, r.Count, "amqp", r.Reason)
		}
	}
	if s.Kafka != nil {
		st := s.Kafka.Stats()
		gauge(ch, connections, float64(st.Connections), "kafka")
		for _, e := range st.Errors {
			counter(ch, rejected, e.Count, "kafka", e.Reason)
		}
	}
}

func (c *Collector) collectSyncs(ch chan<- prometheus.Metric) {
	snap := c.syncs.snapshot()
	counter(ch, fsyncTotal, snap.count)
	counter(ch, fsyncFailed, snap.failed)
	ch <- prometheus.MustNewConstHistogram(fsyncSeconds, snap.count, snap.sum, snap.cumulative)
}

func collectQueues(ch chan<- prometheus.Metric, qs []vhost.QueueStats) {
	for _, q := range qs {
		gauge(ch, queueReady, float64(q.Ready), q.Vhost, q.Name)
		gauge(ch, queueUnacked, float64(q.Unacked), q.Vhost, q.Name)
		gauge(ch, queueConsumers, float64(q.Consumers), q.Vhost, q.Name)
		if !q.HasTotals {
			continue
		}
		counter(ch, queuePublished, q.Totals.Published, q.Vhost, q.Name)
		counter(ch, queueDelivered, q.Totals.Delivered, q.Vhost, q.Name)
		counter(ch, queueRedelivered, q.Totals.Redelivered, q.Vhost, q.Name)
		counter(ch, queueAcked, q.Totals.Acked, q.Vhost, q.Name)
		counter(ch, queueDeadLettered, q.Totals.DeadLettered, q.Vhost, q.Name)
	}
}

func collectPartitions(ch chan<- prometheus.Metric, ps []broker.PartitionStats) {
	for _, p := range ps {
		idx := strconv.Itoa(int(p.Partition))
		gauge(ch, partStart, float64(p.StartOffset), p.Topic, idx)
		gauge(ch, partEnd, float64(p.EndOffset), p.Topic, idx)
		gauge(ch, partBytes, float64(p.Bytes), p.Topic, idx)
		counter(ch, partRecords, p.ProducedRecords, p.Topic, idx)
		counter(ch, partBatches, p.ProducedBatches, p.Topic, idx)
		counter(ch, partInBytes, p.ProducedBytes, p.Topic, idx)
		counter(ch, partFetched, p.FetchedBytes, p.Topic, idx)
	}
}

// collectGroups reports each committed offset and its lag: the
// partition's end offset minus the offset, never below zero. Offsets of
// partitions that no longer exist, and negative offsets, have no lag.
func collectGroups(ch chan<- prometheus.Metric, cs []group.Committed, parts []broker.PartitionStats) {
	type tp struct {
		topic string
		p     int32
	}
	end := make(map[tp]int64, len(parts))
	for _, p := range parts {
		end[tp{p.Topic, p.Partition}] = p.EndOffset
	}
	for _, c := range cs {
		idx := strconv.Itoa(int(c.Partition))
		gauge(ch, groupOffset, float64(c.Offset), c.Group, c.Topic, idx)
		e, ok := end[tp{c.Topic, c.Partition}]
		if !ok || c.Offset < 0 {
			continue
		}
		gauge(ch, groupLag, float64(max(e-c.Offset, 0)), c.Group, c.Topic, idx)
	}
}

func gauge(ch chan<- prometheus.Metric, d *prometheus.Desc, v float64, labels ...string) {
	ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
}

func counter(ch chan<- prometheus.Metric, d *prometheus.Desc, v uint64, labels ...string) {
	ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
}
