package mapping

import (
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/loftmq/loft/internal/amqp/frame"
)

// AMQP is an AMQP message as the broker holds it.
type AMQP struct {
	Exchange   string
	RoutingKey string
	// Properties are the basic properties in wire form, property flags
	// first, as frame.DecodeProperties reads them.
	Properties []byte
	Body       []byte
	Timestamp  int64 // ms since the epoch, when it was published
}

// ErrProperties means a message's Properties do not decode; the error
// wraps the frame error saying why.
var ErrProperties = errors.New("mapping: properties do not decode")

// Record header names. The amqp. prefix is Loft's: every header ToRecord
// writes from an AMQP message is named by it, except content-type, which
// both CloudEvents bindings name so.
const (
	headerContentType = "content-type"
	headerExchange    = "amqp.exchange"
	// headerTable holds the application headers table in AMQP wire form,
	// written only when the per-header view alone would lose something.
	headerTable = "amqp.headers"
	loftPrefix  = "amqp."
	// escapePrefix is put before an application header whose own name is
	// one ToRecord reserves, so that Kafka readers never mistake it for a
	// mapped property.
	escapePrefix = "amqp.header."

	// CloudEvents attribute prefixes: ce_ in Kafka headers (Kafka binding
	// 3.2.3.1), cloudEvents_ or cloudEvents: in AMQP application
	// properties (AMQP binding 3.1.3.1, which prefers _).
	ceKafka     = "ce_"
	ceAMQP      = "cloudEvents_"
	ceAMQPColon = "cloudEvents:"

	// headerKafkaKey is the application header FromRecord keeps a record
	// key in when it is too long to be a routing key.
	headerKafkaKey = "x-kafka-key"

	maxShortStr = 255 // longest AMQP shortstr: property, key or routing key
)

// kafkaName is the record header name for the application header key.
func kafkaName(key string) string {
	if attr, ok := ceAttribute(key); ok {
		return ceKafka + attr
	}
	if key == headerContentType || strings.HasPrefix(key, loftPrefix) || strings.HasPrefix(key, ceKafka) {
		return escapePrefix + key
	}
	return key
}

// amqpName is the application header key for a record header that is not
// a mapped property; it undoes kafkaName, except that a CloudEvents
// attribute always gets the preferred cloudEvents_ prefix.
func amqpName(name string) string {
	if attr, ok := strings.CutPrefix(name, ceKafka); ok {
		return ceAMQP + attr
	}
	if key, ok := strings.CutPrefix(name, escapePrefix); ok {
		return key
	}
	return name
}

// ceAttribute returns the CloudEvents attribute an application header
// carries, if its key has either prefix the AMQP binding allows.
func ceAttribute(key string) (string, bool) {
	if attr, ok := strings.CutPrefix(key, ceAMQP); ok {
		return attr, true
	}
	return strings.CutPrefix(key, ceAMQPColon)
}

type kind uint8

const (
	shortStr  kind = iota // UTF-8 bytes as sent (any octets)
	octet                 // decimal 0-255
	timestamp             // decimal seconds since the epoch, unsigned
)

// property is one row of the mapping table for basic properties. The
// application headers have rows of their own; see table.go.
type property struct {
	name   string // as the AMQP spec names it
	header string
	flag   uint16
	kind   kind
	str    func(*frame.Properties) *string
	oct    func(*frame.Properties) *uint8
}

// properties are in spec order, which is the order ToRecord writes them.
var properties = [...]property{
	{name: "content-type", header: headerContentType, flag: frame.FlagContentType, kind: shortStr,
		str: func(p *frame.Properties) *string { return &p.ContentType }},
	{name: "content-encoding", header: "amqp.content-encoding", flag: frame.FlagContentEncoding, kind: shortStr,
		str: func(p *frame.Properties) *string { return &p.ContentEncoding }},
	{name: "delivery-mode", header: "amqp.delivery-mode", flag: frame.FlagDeliveryMode, kind: octet,
		oct: func(p *frame.Properties) *uint8 { return &p.DeliveryMode }},
	{name: "priority", header: "amqp.priority", flag: frame.FlagPriority, kind: octet,
		oct: func(p *frame.Properties) *uint8 { return &p.Priority }},
	{name: "correlation-id", header: "amqp.correlation-id", flag: frame.FlagCorrelationID, kind: shortStr,
		str: func(p *frame.Properties) *string { return &p.CorrelationID }},
	{name: "reply-to", header: "amqp.reply-to", flag: frame.FlagReplyTo, kind: shortStr,
		str: func(p *frame.Properties) *string { return &p.ReplyTo }},
	{name: "expiration", header: "amqp.expiration", flag: frame.FlagExpiration, kind: shortStr,
		str: func(p *frame.Properties) *string { return &p.Expiration }},
	{name: "message-id", header: "amqp.message-id", flag: frame.FlagMessageID, kind: shortStr,
		str: func(p *frame.Properties) *string { return &p.MessageID }},
	{name: "timestamp", header: "amqp.timestamp", flag: frame.FlagTimestamp, kind: timestamp},
	{name: "type", header: "amqp.type", flag: frame.FlagType, kind: shortStr,
		str: func(p *frame.Properties) *string { return &p.Type }},
	{name: "user-id", header: "amqp.user-id", flag: frame.FlagUserID, kind: shortStr,
		str: func(p *frame.Properties) *string { return &p.UserID }},
	{name: "app-id", header: "amqp.app-id", flag: frame.FlagAppID, kind: shortStr,
		str: func(p *frame.Properties) *string { return &p.AppID }},
	{name: "cluster-id", header: "amqp.cluster-id", flag: frame.FlagClusterID, kind: shortStr,
		str: func(p *frame.Properties) *string { return &p.ClusterID }},
}

// propertyFor returns the index of the property carried by a record
// header name, or -1.
func propertyFor(name string) int {
	if name != headerContentType && !strings.HasPrefix(name, loftPrefix) {
		return -1
	}
	for i := range properties {
		if properties[i].header == name {
			return i
		}
	}
	return -1
}

// appendValue appends the property's header value.
func (d *property) appendValue(dst []byte, p *frame.Properties) []byte {
	switch d.kind {
	case octet:
		return strconv.AppendUint(dst, uint64(*d.oct(p)), 10)
	case timestamp:
		return strconv.AppendUint(dst, uint64(p.Timestamp.Unix()), 10)
	}
	return append(dst, *d.str(p)...)
}

// set parses a header value into p, reporting whether it was one the
// property can hold. A null value is not: ToRecord never writes one.
func (d *property) set(p *frame.Properties, v []byte) bool {
	if v == nil {
		return false
	}
	switch d.kind {
	case octet:
		n, err := strconv.ParseUint(string(v), 10, 8)
		if err != nil {
			return false
		}
		*d.oct(p) = uint8(n)
	case timestamp:
		n, err := strconv.ParseUint(string(v), 10, 64)
		if err != nil {
			return false
		}
		p.Timestamp = time.Unix(int64(n), 0).UTC() // as frame decodes it
	default:
		if len(v) > maxShortStr {
			return false
		}
		*d.str(p) = string(v)
	}
	p.Flags |= d.flag
	return true
}
