package kafka

import (
	"context"
	"errors"

	"github.com/loftmq/loft/internal/broker"
	"github.com/twmb/franz-go/pkg/kerr"
)

// brokerErrors maps the broker's sentinel errors to Kafka error codes: the
// one place where they meet.
var brokerErrors = []struct {
	err  error
	code *kerr.Error
}{
	{broker.ErrUnknownTopic, kerr.UnknownTopicOrPartition},
	{broker.ErrTopicExists, kerr.TopicAlreadyExists},
	{broker.ErrInvalidTopic, kerr.InvalidTopicException},
	{broker.ErrInvalidPartitions, kerr.InvalidPartitions},
	{broker.ErrInvalidConfig, kerr.InvalidConfig},
	{broker.ErrMessageTooLarge, kerr.MessageTooLarge},
	{broker.ErrCorruptMessage, kerr.CorruptMessage},
	{broker.ErrInvalidRecord, kerr.InvalidRecord},
	{broker.ErrOutOfOrderSequence, kerr.OutOfOrderSequenceNumber},
	{broker.ErrInvalidProducerEpoch, kerr.InvalidProducerEpoch},
	{broker.ErrUnknownProducerID, kerr.UnknownProducerID},
	{broker.ErrOffsetOutOfRange, kerr.OffsetOutOfRange},
	{broker.ErrStorage, kerr.KafkaStorageError},
	{broker.ErrPolicyViolation, kerr.PolicyViolation},
	// A closing broker: NOT_LEADER_OR_FOLLOWER is retriable and makes the
	// client look for the leader again, which is what it should do.
	{broker.ErrClosed, kerr.NotLeaderForPartition},
	// The connection's context ends when the server stops: retriable.
	{context.Canceled, kerr.RequestTimedOut},
	{context.DeadlineExceeded, kerr.RequestTimedOut},
}

// errCode returns the Kafka error code for err: 0 for nil, the mapped code
// for a broker sentinel (wrapped or not), UNKNOWN_SERVER_ERROR otherwise.
func errCode(err error) int16 {
	if err == nil {
		return 0
	}
	return kafkaErr(err).Code
}

// kafkaErr is errCode's *kerr.Error, for its message; nil for nil.
func kafkaErr(err error) *kerr.Error {
	if err == nil {
		return nil
	}
	for _, m := range brokerErrors {
		if errors.Is(err, m.err) {
			return m.code
		}
	}
	return kerr.UnknownServerError
}

// errMessage returns err's text for a response's ErrorMessage field (nil
// when there is no error).
func errMessage(err error) *string {
	if err == nil {
		return nil
	}
	s := err.Error()
	return &s
}

// errorMessage returns the description of a Kafka error code, for the
// ErrorMessage fields of responses (nil for 0).
func errorMessage(code int16) *string {
	if code == 0 {
		return nil
	}
	err := kerr.ErrorForCode(code)
	var ke *kerr.Error
	if errors.As(err, &ke) {
		return &ke.Description
	}
	s := err.Error()
	return &s
}
