package broker

import "errors"

// Sentinel errors. The Kafka layer maps each to its wire error code (named
// after each); other protocol layers map them to their own. They are often
// wrapped with details: test with errors.Is.
var (
	// ErrUnknownTopic reports a topic or partition that does not exist
	// (UNKNOWN_TOPIC_OR_PARTITION).
	ErrUnknownTopic = errors.New("broker: unknown topic or partition")
	// ErrTopicExists reports creating a topic that exists (TOPIC_ALREADY_EXISTS).
	ErrTopicExists = errors.New("broker: topic already exists")
	// ErrInvalidTopic reports a topic name Kafka's rules or Loft's reserved
	// prefix refuse (INVALID_TOPIC_EXCEPTION).
	ErrInvalidTopic = errors.New("broker: invalid topic name")
	// ErrInvalidPartitions reports a partition count out of range, or one that
	// would shrink a topic (INVALID_PARTITIONS).
	ErrInvalidPartitions = errors.New("broker: invalid partition count")
	// ErrInvalidConfig reports an unknown topic config, a bad value, or an
	// operation a config does not support (INVALID_CONFIG).
	ErrInvalidConfig = errors.New("broker: invalid config")
	// ErrMessageTooLarge reports a batch larger than max.message.bytes
	// (MESSAGE_TOO_LARGE).
	ErrMessageTooLarge = errors.New("broker: message too large")
	// ErrCorruptMessage reports a batch that is not a well-formed RecordBatch
	// v2: short, wrong length, wrong CRC, or an older message format (magic
	// 0 or 1), which Loft does not accept (CORRUPT_MESSAGE); and, on a
	// read, stored data found damaged on disk, wrapping the
	// *logstore.CorruptError that names the offsets it held.
	ErrCorruptMessage = errors.New("broker: corrupt message")
	// ErrInvalidRecord reports a well-formed batch the topic cannot take: a
	// record without key on a compacted topic, a control or transactional
	// batch from a client, a record count that disagrees with the offsets
	// (INVALID_RECORD).
	ErrInvalidRecord = errors.New("broker: invalid record")
	// ErrOutOfOrderSequence reports an idempotent batch whose sequence does
	// not follow the producer's last one (OUT_OF_ORDER_SEQUENCE_NUMBER).
	ErrOutOfOrderSequence = errors.New("broker: out of order sequence number")
	// ErrInvalidProducerEpoch reports a batch from an older epoch of a
	// producer than one already seen: the producer is fenced
	// (INVALID_PRODUCER_EPOCH).
	ErrInvalidProducerEpoch = errors.New("broker: invalid producer epoch")
	// ErrUnknownProducerID (UNKNOWN_PRODUCER_ID) is not returned today: like
	// Kafka since 2.5, a producer the partition has no state for is accepted
	// at any sequence. It is kept for the Kafka layer's mapping table.
	ErrUnknownProducerID = errors.New("broker: unknown producer id")
	// ErrOffsetOutOfRange reports a read or delete outside [log start, high
	// watermark] (OFFSET_OUT_OF_RANGE).
	ErrOffsetOutOfRange = errors.New("broker: offset out of range")
	// ErrStorage reports a failed write, sync or read of the log engine or
	// the metadata store (KAFKA_STORAGE_ERROR). The operation may be retried.
	ErrStorage = errors.New("broker: storage error")
	// ErrPolicyViolation reports a request a broker policy refuses
	// (POLICY_VIOLATION).
	ErrPolicyViolation = errors.New("broker: policy violation")
	// ErrClosed reports use of a closed broker. Kafka has no code for it;
	// NOT_LEADER_OR_FOLLOWER makes clients look again, which fits a broker
	// going away.
	ErrClosed = errors.New("broker: closed")
)
