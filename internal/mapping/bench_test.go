package mapping

import (
	"testing"

	"github.com/loftmq/loft/internal/amqp/frame"
)

// typicalProperties are what a service commonly publishes with: five
// properties and three headers, one of them an int (so amqp.headers is
// written).
func typicalProperties() frame.Properties {
	p := frame.Properties{
		ContentType:  "application/json",
		DeliveryMode: 2,
		MessageID:    "0b5f3c1e-7d8a-4e3b-9c1f-2a6d5e4f7a8b",
		Timestamp:    when,
		AppID:        "billing",
		Headers: frame.Table{
			{Key: "traceparent", Value: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
			{Key: "tenant", Value: "acme"},
			{Key: "retries", Value: int32(2)},
		},
	}
	p.SetFlags()
	return p
}

func benchMessages(b *testing.B) map[string]AMQP {
	typed := typicalProperties()
	text := typicalProperties()
	text.Headers[2].Value = "2"
	return map[string]AMQP{
		"typed": message(b, typed), // amqp.headers written
		"text":  message(b, text),  // all headers text: none
	}
}

func BenchmarkToRecord(b *testing.B) {
	for name, m := range benchMessages(b) {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := ToRecord(m); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkFromRecord(b *testing.B) {
	for name, m := range benchMessages(b) {
		r, err := ToRecord(m)
		if err != nil {
			b.Fatal(err)
		}
		r = stored(b, r)
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				FromRecord(r)
			}
		})
	}
}
