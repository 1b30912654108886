package otelclient_test

import (
	"context"
	"errors"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/loftmq/loft/client"
	"github.com/loftmq/loft/client/otelclient"
	"github.com/loftmq/loft/embedded"
)

type Ping struct{ N int }

// TestOneTraceAcrossServices: a publish from a traced request, the
// handler it reaches and what that handler publishes are spans of one
// trace, each the child of the one before; a failing handler's span
// records the error.
func TestOneTraceAcrossServices(t *testing.T) {
	b := embedded.Start(t, embedded.WithoutFsync())
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	hooks := otelclient.Hooks(otelclient.WithTracerProvider(tp))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, b.AMQPURL(), client.WithService("svc"), client.WithHooks(hooks))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	done := make(chan struct{})
	if err := client.Subscribe(ctx, c, "first", func(ctx context.Context, p Ping) error {
		return c.Publish(ctx, "second", p)
	}); err != nil {
		t.Fatal(err)
	}
	if err := client.Subscribe(ctx, c, "second", func(ctx context.Context, p Ping) error {
		close(done)
		return errors.New("second fails")
	}, client.Retries(1, time.Millisecond, time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	go c.Run(runCtx)

	rootCtx, root := tp.Tracer("test").Start(ctx, "request")
	if err := c.Publish(rootCtx, "first", Ping{1}); err != nil {
		t.Fatal(err)
	}
	root.End()
	<-done
	var spans []sdktrace.ReadOnlySpan
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		spans = rec.Ended()
		if len(spans) >= 5 || time.Now().After(deadline) {
			break
		}
	}
	byName := map[string]sdktrace.ReadOnlySpan{}
	for _, s := range spans {
		byName[s.Name()] = s
	}
	chain := []string{"request", "publish first", "process " + client.EventQueue("svc", "first"),
		"publish second", "process " + client.EventQueue("svc", "second")}
	kinds := []trace.SpanKind{trace.SpanKindInternal, trace.SpanKindProducer, trace.SpanKindConsumer,
		trace.SpanKindProducer, trace.SpanKindConsumer}
	for i, name := range chain {
		s, ok := byName[name]
		if !ok {
			t.Fatalf("no span %q among %d", name, len(spans))
		}
		if s.SpanKind() != kinds[i] {
			t.Errorf("%s: kind %v, want %v", name, s.SpanKind(), kinds[i])
		}
		if i == 0 {
			continue
		}
		parent := byName[chain[i-1]]
		if s.SpanContext().TraceID() != parent.SpanContext().TraceID() || s.Parent().SpanID() != parent.SpanContext().SpanID() {
			t.Errorf("%s is not a child of %s", name, chain[i-1])
		}
	}
	last := byName[chain[4]]
	if last.Status().Description != "second fails" {
		t.Errorf("failing handler's span status %+v", last.Status())
	}
}
