package queue

import (
	"encoding/binary"
	"fmt"

	"github.com/loftmq/loft/internal/logstore"
)

// Message is one message of a queue. It is shared between the cache and
// every consumer it is delivered to, and must not be modified.
type Message struct {
	Offset     int64 // its place in the queue's log
	Timestamp  int64 // ms since the epoch, when it was published
	Exchange   string
	RoutingKey string
	// Properties are the message's AMQP basic properties as the publisher
	// encoded them (property flags, then the properties), stored and
	// returned byte for byte.
	Properties []byte
	Body       []byte
	// Persistent is AMQP delivery mode 2. A transient message is stored
	// like any other but forgotten when the broker restarts.
	Persistent bool
	// Expires is when the message expires, in ms since the epoch (its
	// AMQP expiration property), or 0 for never.
	Expires int64
	// DedupKey is the message's deduplication key (its
	// x-deduplication-header), for a deduplicating queue; it is not
	// stored, but read back from the properties (Config.DedupKey).
	DedupKey string
	// Priority is the message's AMQP priority, which picks its level in
	// a queue with priorities; not stored apart from the properties.
	Priority uint8
}

// size is what the message counts against the cache's byte budget.
func (m *Message) size() int {
	return len(m.Body) + len(m.Properties) + len(m.Exchange) + len(m.RoutingKey) + 64
}

// The record headers a message is stored with. The routing key is the
// record's key and the body its value.
const (
	headerExchange   = "amqp.exchange"
	headerProperties = "amqp.properties"
	headerTransient  = "amqp.transient"
	headerExpires    = "amqp.expires" // 8 bytes, big-endian ms
)

// Encode appends to dst m as a RecordBatch v2 of one record, ready for
// Enqueue. One encoding may be enqueued on several queues.
func Encode(dst []byte, m *Message) []byte {
	hs := make([]logstore.RecordHeader, 2, 4)
	hs[0] = logstore.RecordHeader{Key: headerExchange, Value: []byte(m.Exchange)}
	hs[1] = logstore.RecordHeader{Key: headerProperties, Value: m.Properties}
	if !m.Persistent {
		hs = append(hs, logstore.RecordHeader{Key: headerTransient})
	}
	if m.Expires != 0 {
		hs = append(hs, logstore.RecordHeader{Key: headerExpires, Value: binary.BigEndian.AppendUint64(nil, uint64(m.Expires))})
	}
	rec := [1]logstore.Record{{
		Timestamp: m.Timestamp,
		Key:       []byte(m.RoutingKey),
		Value:     m.Body,
		Headers:   hs,
	}}
	return logstore.AppendBatch(dst, logstore.BatchOptions{ProducerID: -1}, rec[:])
}

// decode appends to dst the messages of the batches in b.
func decode(dst []*Message, b []byte) ([]*Message, error) {
	for _, batch := range logstore.SplitBatches(b) {
		recs, err := logstore.DecodeRecords(batch)
		if err != nil {
			return dst, fmt.Errorf("queue: decode: %w", err)
		}
		for _, r := range recs {
			m := &Message{
				Offset: r.Offset, Timestamp: r.Timestamp,
				RoutingKey: string(r.Key), Body: r.Value, Persistent: true,
			}
			if m.Body == nil {
				m.Body = []byte{}
			}
			for _, h := range r.Headers {
				switch h.Key {
				case headerExchange:
					m.Exchange = string(h.Value)
				case headerProperties:
					m.Properties = h.Value
				case headerTransient:
					m.Persistent = false
				case headerExpires:
					if len(h.Value) == 8 {
						m.Expires = int64(binary.BigEndian.Uint64(h.Value))
					}
				}
			}
			dst = append(dst, m)
		}
	}
	return dst, nil
}
