// Package otelclient traces the client library with OpenTelemetry: a
// producer span for every message published and a consumer span around
// every handler, joined into one trace through the W3C traceparent header
// the messages carry. It is its own package so that services not using
// OpenTelemetry do not depend on it.
//
//	c, err := client.Dial(ctx, url, client.WithService("billing"), client.WithHooks(otelclient.Hooks()))
package otelclient

import (
	"context"
	"fmt"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/loftmq/loft/client"
)

// instrumentation names the tracer, as OpenTelemetry asks.
const instrumentation = "github.com/loftmq/loft/client"

type config struct {
	tp   trace.TracerProvider
	prop propagation.TextMapPropagator
}

// An Option configures the hooks.
type Option func(*config)

// WithTracerProvider sets the provider of the tracer (default: the
// global one, otel.GetTracerProvider).
func WithTracerProvider(tp trace.TracerProvider) Option { return func(c *config) { c.tp = tp } }

// WithPropagator sets how span contexts travel in message headers
// (default: W3C trace context, the headers the library itself uses).
func WithPropagator(p propagation.TextMapPropagator) Option {
	return func(c *config) { c.prop = p }
}

// Hooks returns client hooks that trace every publish and every handler.
// Span names and attributes follow OpenTelemetry's messaging semantic
// conventions for RabbitMQ (AMQP 0-9-1).
func Hooks(opts ...Option) client.Hooks {
	cfg := config{tp: otel.GetTracerProvider(), prop: propagation.TraceContext{}}
	for _, o := range opts {
		o(&cfg)
	}
	tracer := cfg.tp.Tracer(instrumentation)
	return client.Hooks{
		Publishing: func(ctx context.Context, dest string, m *client.Message) func(error) {
			if m.Headers == nil {
				m.Headers = map[string]any{}
			}
			parent := ctx
			if !trace.SpanContextFromContext(ctx).IsValid() {
				// No span here (e.g. an outbox relay): continue the trace
				// the message was written in, if it has one.
				parent = cfg.prop.Extract(ctx, headers(m.Headers))
			}
			ctx, span := tracer.Start(parent, "publish "+dest,
				trace.WithSpanKind(trace.SpanKindProducer),
				trace.WithAttributes(attrs("publish", dest, m)...))
			cfg.prop.Inject(ctx, headers(m.Headers))
			return func(err error) { end(span, err) }
		},
		Handling: func(ctx context.Context, queue string, m *client.Message) (context.Context, func(error)) {
			parent := cfg.prop.Extract(ctx, headers(m.Headers))
			ctx, span := tracer.Start(parent, "process "+queue,
				trace.WithSpanKind(trace.SpanKindConsumer),
				trace.WithAttributes(attrs("process", queue, m)...))
			return ctx, func(err error) { end(span, err) }
		},
	}
}

func attrs(op, dest string, m *client.Message) []attribute.KeyValue {
	a := []attribute.KeyValue{
		attribute.String("messaging.system", "rabbitmq"),
		attribute.String("messaging.operation.type", op),
		attribute.String("messaging.destination.name", dest),
		attribute.String("messaging.message.id", m.ID),
		attribute.Int("messaging.message.body.size", len(m.Body)),
	}
	if m.CorrelationID != "" {
		a = append(a, attribute.String("messaging.message.conversation_id", m.CorrelationID))
	}
	if m.Type != "" {
		a = append(a, attribute.String("loft.message.type", m.Type))
	}
	return a
}

func end(span trace.Span, err error) {
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}

// headers is a message's headers as a propagation carrier.
type headers map[string]any

func (h headers) Get(key string) string {
	switch v := h[key].(type) {
	case string:
		return v
	case []byte:
		return string(v)
	case nil:
		return ""
	default:
		return fmt.Sprint(v)
	}
}

func (h headers) Set(key, value string) { h[key] = value }

func (h headers) Keys() []string {
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	return keys
}
