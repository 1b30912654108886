package client

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"strings"
)

// TraceContext is a W3C trace context (https://www.w3.org/TR/trace-context/):
// the traceparent and tracestate headers.
type TraceContext struct {
	TraceParent string
	TraceState  string
}

type traceKey struct{}

// ContextWithTrace returns ctx carrying tc: messages published with it
// continue tc's trace.
func ContextWithTrace(ctx context.Context, tc TraceContext) context.Context {
	return context.WithValue(ctx, traceKey{}, tc)
}

// TraceFromContext returns the trace context ctx carries: in a handler,
// that of the message being handled.
func TraceFromContext(ctx context.Context) (TraceContext, bool) {
	tc, ok := ctx.Value(traceKey{}).(TraceContext)
	return tc, ok
}

// injectTrace puts the trace context of ctx on m, unless m has one: the
// trace id is kept, the parent id is new (this publish is a new span of
// the trace); with none in ctx the message starts a trace.
func injectTrace(ctx context.Context, m *Message) {
	if _, ok := m.Headers[HeaderTraceParent]; ok {
		return
	}
	if m.Headers == nil {
		m.Headers = map[string]any{}
	}
	tc, ok := TraceFromContext(ctx)
	traceID, flags := "", "01"
	if ok {
		if id, f, ok := parseTraceParent(tc.TraceParent); ok {
			traceID, flags = id, f
		}
		if tc.TraceState != "" {
			m.Headers[HeaderTraceState] = tc.TraceState
		}
	}
	if traceID == "" {
		traceID = randomHex(16)
	}
	m.Headers[HeaderTraceParent] = "00-" + traceID + "-" + randomHex(8) + "-" + flags
}

// extractTrace returns ctx carrying m's trace context, if it has one.
func extractTrace(ctx context.Context, m *Message) context.Context {
	tp, _ := m.Headers[HeaderTraceParent].(string)
	if _, _, ok := parseTraceParent(tp); !ok {
		return ctx
	}
	ts, _ := m.Headers[HeaderTraceState].(string)
	return ContextWithTrace(ctx, TraceContext{TraceParent: tp, TraceState: ts})
}

// parseTraceParent returns the trace id and flags of a version-00
// traceparent header.
func parseTraceParent(s string) (traceID, flags string, ok bool) {
	parts := strings.Split(s, "-")
	if len(parts) != 4 || parts[0] != "00" || len(parts[1]) != 32 || len(parts[2]) != 16 || len(parts[3]) != 2 {
		return "", "", false
	}
	for _, p := range parts[1:] {
		if _, err := hex.DecodeString(p); err != nil {
			return "", "", false
		}
	}
	if strings.Trim(parts[1], "0") == "" || strings.Trim(parts[2], "0") == "" {
		return "", "", false // all-zero ids are invalid
	}
	return parts[1], parts[3], true
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails on Linux
	return hex.EncodeToString(b)
}

// Hooks let metrics and tracing see every message. Each is optional.
type Hooks struct {
	// Publishing is called before an event, command, request or reply is
	// published, with the message (ID set), which it may change, e.g. to
	// put a span's context in its headers. The function it returns is
	// called with the outcome: nil once the broker confirmed (for a
	// request: once the reply came).
	Publishing func(ctx context.Context, destination string, m *Message) (done func(err error))
	// Handling is called before a handler runs with the context the
	// handler will get; it may return a derived one (e.g. with a span),
	// and a function called with the handler's result.
	Handling func(ctx context.Context, queue string, m *Message) (context.Context, func(err error))
}

func (h Hooks) publishing(ctx context.Context, dest string, m *Message) func(error) {
	if h.Publishing == nil {
		return func(error) {}
	}
	if done := h.Publishing(ctx, dest, m); done != nil {
		return done
	}
	return func(error) {}
}

func (h Hooks) handling(ctx context.Context, queue string, m *Message) (context.Context, func(error)) {
	if h.Handling == nil {
		return ctx, func(error) {}
	}
	hctx, done := h.Handling(ctx, queue, m)
	if done == nil {
		done = func(error) {}
	}
	return hctx, done
}
