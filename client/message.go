package client

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// Message is what travels between services: the body and what a handler
// may need to know about it.
type Message struct {
	// ID identifies the message for its whole life: a retry, a re-publish
	// after a lost connection and a replay keep it, so consumers
	// de-duplicate by it. NewID makes one when it is empty.
	ID string
	// Type names what the body is, e.g. "OrderPlaced". Commands and
	// requests are dispatched to their handler by it.
	Type string
	// CorrelationID ties a reply to its request, and a message to the
	// conversation it belongs to.
	CorrelationID string
	// ReplyTo is where the reply to a request goes.
	ReplyTo string
	// Timestamp is when the message was first published.
	Timestamp time.Time
	// ContentType is the body's media type, e.g. "application/json".
	ContentType string
	// Key is the message's ordering key: a handler asked to keep order per
	// key (OrderedByKey) never runs two messages of one key at once. It
	// travels as the routing key's companion header loft-key.
	Key string
	// Headers are application headers; values are AMQP field values
	// (strings, numbers, booleans, time.Time, []byte, nested tables).
	Headers map[string]any
	// Body is the encoded payload.
	Body []byte
}

// Headers the library writes and reads. They are ordinary AMQP headers,
// so any client can read them.
const (
	HeaderKey         = "loft-key"     // Message.Key
	HeaderAttempt     = "loft-attempt" // deliveries so far that failed, on a retry
	HeaderError       = "loft-error"   // the last handler error, on a retry or dead letter
	HeaderService     = "loft-service" // the service whose handler failed
	HeaderQueue       = "loft-queue"   // the queue a dead letter came from
	HeaderTraceParent = "traceparent"  // W3C trace context
	HeaderTraceState  = "tracestate"   // W3C trace context, vendor part
	headerDedup       = "x-deduplication-header"
)

// NewID returns a new message id: a UUID version 7 (RFC 9562), which
// sorts by creation time, so ids double as a rough order of publishing.
func NewID() string {
	var u [16]byte
	ms, seq := ids.next()
	binary.BigEndian.PutUint64(u[0:8], ms<<16|uint64(seq&0x0fff))
	u[6] = 0x70 | u[6]&0x0f // version 7 over the top of the sequence
	if _, err := rand.Read(u[8:]); err != nil {
		panic("client: no randomness: " + err.Error()) // crypto/rand never fails on Linux
	}
	u[8] = 0x80 | u[8]&0x3f // the RFC 9562 variant
	var s [36]byte
	hex.Encode(s[0:8], u[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], u[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], u[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], u[8:10])
	s[23] = '-'
	hex.Encode(s[24:], u[10:])
	return string(s[:])
}

// idClock hands out (millisecond, sequence) pairs that never go backwards
// in one process, so ids made in the same millisecond still sort in the
// order they were made (RFC 9562's method 1, a 12-bit counter).
type idClock struct {
	mu  sync.Mutex
	ms  uint64
	seq uint16
}

var ids idClock

func (c *idClock) next() (uint64, uint16) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := uint64(time.Now().UnixMilli())
	switch {
	case now > c.ms:
		c.ms, c.seq = now, 0
	case c.seq < 0x0fff:
		c.seq++
	default: // 4,096 ids in one millisecond: borrow the next one
		c.ms, c.seq = c.ms+1, 0
	}
	return c.ms, c.seq
}

// publishing turns m into what amqp091-go sends; persistent, since every
// message the library publishes is meant to survive a broker restart.
func (m *Message) publishing() amqp.Publishing {
	h := amqp.Table{}
	for k, v := range m.Headers {
		h[k] = fieldValue(v)
	}
	if m.Key != "" {
		h[HeaderKey] = m.Key
	}
	h[headerDedup] = m.ID
	return amqp.Publishing{
		Headers:       h,
		ContentType:   m.ContentType,
		DeliveryMode:  amqp.Persistent,
		CorrelationId: m.CorrelationID,
		ReplyTo:       m.ReplyTo,
		MessageId:     m.ID,
		Timestamp:     m.Timestamp,
		Type:          m.Type,
		Body:          m.Body,
	}
}

// fieldValue is v as an AMQP field value: nested maps become tables,
// which is what amqp091-go encodes.
func fieldValue(v any) any {
	switch x := v.(type) {
	case map[string]any:
		t := make(amqp.Table, len(x))
		for k, e := range x {
			t[k] = fieldValue(e)
		}
		return t
	case []any:
		a := make([]any, len(x))
		for i, e := range x {
			a[i] = fieldValue(e)
		}
		return a
	}
	return v
}

// fromDelivery is the Message d carries.
func fromDelivery(d *amqp.Delivery) Message {
	m := Message{
		ID:            d.MessageId,
		Type:          d.Type,
		CorrelationID: d.CorrelationId,
		ReplyTo:       d.ReplyTo,
		Timestamp:     d.Timestamp,
		ContentType:   d.ContentType,
		Body:          d.Body,
	}
	if len(d.Headers) > 0 {
		m.Headers = make(map[string]any, len(d.Headers))
		for k, v := range d.Headers {
			switch k {
			case HeaderKey:
				m.Key, _ = v.(string)
			case headerDedup:
			default:
				m.Headers[k] = v
			}
		}
	}
	return m
}
