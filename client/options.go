package client

import (
	"log/slog"
	"time"
)

// settings are a Client's options.
type settings struct {
	service    string
	logger     *slog.Logger
	codec      Codec
	hooks      Hooks
	minBackoff time.Duration
	maxBackoff time.Duration
	drain      time.Duration
}

func defaults() settings {
	return settings{
		logger:     slog.New(slog.DiscardHandler),
		codec:      JSON{},
		minBackoff: 100 * time.Millisecond,
		maxBackoff: 10 * time.Second,
		drain:      30 * time.Second,
	}
}

// An Option configures a Client.
type Option func(*settings)

// WithService names the service the Client belongs to (required): its
// queues are named after it, so every instance of one service shares them
// and competes for their messages, while each service gets its own copy of
// every event it subscribes to.
func WithService(name string) Option { return func(s *settings) { s.service = name } }

// WithLogger sets where the Client logs; by default it does not.
func WithLogger(l *slog.Logger) Option { return func(s *settings) { s.logger = l } }

// WithCodec sets how values become bodies and back; JSON by default.
func WithCodec(c Codec) Option { return func(s *settings) { s.codec = c } }

// WithHooks sets the Client's observability hooks (metrics, tracing).
func WithHooks(h Hooks) Option { return func(s *settings) { s.hooks = h } }

// WithReconnectBackoff sets the wait between reconnect attempts: it starts
// at min and doubles up to max, with jitter. Defaults: 100ms and 10s.
func WithReconnectBackoff(min, max time.Duration) Option {
	return func(s *settings) { s.minBackoff, s.maxBackoff = min, max }
}

// WithDrainTimeout bounds how long Run waits, once its context is done,
// for the handlers still running to finish. Default: 30s.
func WithDrainTimeout(d time.Duration) Option { return func(s *settings) { s.drain = d } }

// handlerSettings are a handler's options.
type handlerSettings struct {
	concurrency int
	prefetch    int
	ordered     bool
	attempts    int
	firstDelay  time.Duration
	maxDelay    time.Duration
	store       Store
	msgType     string
	batchSize   int
	batchWait   time.Duration
}

func handlerDefaults() handlerSettings {
	return handlerSettings{
		concurrency: 1,
		attempts:    5,
		firstDelay:  time.Second,
		maxDelay:    time.Minute,
		batchSize:   100,
		batchWait:   time.Second,
	}
}

// A HandlerOption configures one handler.
type HandlerOption func(*handlerSettings)

// Concurrency runs up to n messages at once (default 1).
func Concurrency(n int) HandlerOption {
	return func(h *handlerSettings) { h.concurrency = max(n, 1) }
}

// Prefetch sets how many messages the broker sends ahead of the handler;
// by default twice the concurrency.
func Prefetch(n int) HandlerOption { return func(h *handlerSettings) { h.prefetch = max(n, 1) } }

// OrderedByKey keeps order per Message.Key: messages with the same key run
// one at a time, in the order they arrive, while different keys run
// concurrently. A message that fails and is retried later leaves its place.
func OrderedByKey() HandlerOption { return func(h *handlerSettings) { h.ordered = true } }

// Retries sets the failure policy: a message whose handler fails is tried
// at most attempts times in all, waiting first, then twice as long each
// time up to max, before it is dead-lettered. The wait happens on the
// broker (a delayed redelivery), not in the handler's goroutine.
// Defaults: 5 attempts, 1s, 1m. attempts 1 dead-letters on the first
// failure.
func Retries(attempts int, first, max time.Duration) HandlerOption {
	return func(h *handlerSettings) {
		h.attempts, h.firstDelay, h.maxDelay = max1(attempts), first, max
	}
}

func max1(n int) int { return max(n, 1) }

// Idempotent makes the handler skip messages whose id the store says were
// processed already: they are acknowledged without running it.
func Idempotent(s Store) HandlerOption { return func(h *handlerSettings) { h.store = s } }

// ForType sets the message type a command or request handler serves,
// instead of the name of its Go type.
func ForType(name string) HandlerOption { return func(h *handlerSettings) { h.msgType = name } }

// BatchOf bounds a batch handler's batches: at most n messages, and no
// older than wait when handed over (defaults 100 and 1s).
func BatchOf(n int, wait time.Duration) HandlerOption {
	return func(h *handlerSettings) { h.batchSize, h.batchWait = max(n, 1), wait }
}

// publishSettings are a publish's options.
type publishSettings struct {
	msgType string
	key     string
	id      string
	corr    string
	headers map[string]any
}

// A PublishOption configures one publish, send or request.
type PublishOption func(*publishSettings)

// WithType sets Message.Type instead of the name of the value's Go type.
func WithType(t string) PublishOption { return func(p *publishSettings) { p.msgType = t } }

// WithKey sets Message.Key, the key a handler keeps order by when asked
// (OrderedByKey).
func WithKey(k string) PublishOption { return func(p *publishSettings) { p.key = k } }

// WithMessageID sets Message.ID instead of a new one: publishing the same
// id twice (e.g. an outbox relay after a crash) is then recognised as a
// duplicate.
func WithMessageID(id string) PublishOption { return func(p *publishSettings) { p.id = id } }

// WithCorrelationID sets Message.CorrelationID.
func WithCorrelationID(id string) PublishOption { return func(p *publishSettings) { p.corr = id } }

// WithHeader adds an application header.
func WithHeader(k string, v any) PublishOption {
	return func(p *publishSettings) {
		if p.headers == nil {
			p.headers = map[string]any{}
		}
		p.headers[k] = v
	}
}
