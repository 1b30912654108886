package streamapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/loftmq/loft/internal/auth"
	"github.com/loftmq/loft/internal/broker"
	"github.com/loftmq/loft/internal/group"
	"github.com/loftmq/loft/internal/httpx"
	"github.com/loftmq/loft/internal/logstore"
)

// Prefix is the path under which the API serves; the server mounts the
// handler there, unstripped.
const Prefix = "/api/v1/"

// Defaults and bounds of Config.
const (
	// DefaultMaxWait bounds the wait of a long poll (max_wait_ms).
	DefaultMaxWait = 30 * time.Second
	// DefaultHeartbeat is how often an idle event stream sends a comment,
	// so that proxies keep it open and clients see it alive.
	DefaultHeartbeat = 15 * time.Second
	// DefaultWriteTimeout bounds each write of a long-lived response: a
	// client that stops reading is cut off after it.
	DefaultWriteTimeout = 10 * time.Second
)

// Config configures New. Broker, Groups and Users are required; the rest
// has working zero values.
type Config struct {
	Broker *broker.Broker
	Groups *group.Coordinator
	Users  *auth.Store
	Logger *slog.Logger

	// MaxWait bounds max_wait_ms of a long poll; default DefaultMaxWait.
	MaxWait time.Duration
	// Heartbeat is the idle interval of an event stream; default
	// DefaultHeartbeat.
	Heartbeat time.Duration
	// WriteTimeout bounds each write of a long poll's answer or an event
	// stream; default DefaultWriteTimeout.
	WriteTimeout time.Duration
}

// API serves the stream API. It is an http.Handler.
type API struct {
	cfg    Config
	broker *broker.Broker
	groups *group.Coordinator
	auth   httpx.Auth
	logger *slog.Logger
	router httpx.Router

	rr atomic.Uint32 // round robin of keyless records over partitions

	closeOnce sync.Once
	done      chan struct{} // closed by Close
}

// New returns the API's handler.
func New(cfg Config) *API {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.MaxWait <= 0 {
		cfg.MaxWait = DefaultMaxWait
	}
	if cfg.Heartbeat <= 0 {
		cfg.Heartbeat = DefaultHeartbeat
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = DefaultWriteTimeout
	}
	a := &API{
		cfg: cfg, broker: cfg.Broker, groups: cfg.Groups,
		auth:   httpx.Auth{Users: cfg.Users, Logger: cfg.Logger},
		router: httpx.Router{NotFoundKind: "not_found"},
		logger: cfg.Logger.With("api", "streams"),
		done:   make(chan struct{}),
	}
	a.public("GET /api/v1/openapi.json", serveOpenAPI)

	a.handle("GET /api/v1/topics", httpx.Management, a.listTopics)
	a.handle("POST /api/v1/topics", httpx.Admin, a.createTopic)
	a.handle("GET /api/v1/topics/{topic}", httpx.Management, a.getTopic)
	a.handle("DELETE /api/v1/topics/{topic}", httpx.Admin, a.deleteTopic)
	a.handle("GET /api/v1/topics/{topic}/configs", httpx.Management, a.getConfigs)
	a.handle("PUT /api/v1/topics/{topic}/configs", httpx.Admin, a.replaceConfigs)
	a.handle("PATCH /api/v1/topics/{topic}/configs", httpx.Admin, a.patchConfigs)
	a.handle("POST /api/v1/topics/{topic}/records", httpx.Management, a.publish)
	a.handle("GET /api/v1/topics/{topic}/partitions/{partition}/records", httpx.Management, a.readRecords)
	a.handle("GET /api/v1/topics/{topic}/partitions/{partition}/sse", httpx.Management, a.stream)

	a.handle("GET /api/v1/groups", httpx.Management, a.listGroups)
	a.handle("GET /api/v1/groups/{group}", httpx.Management, a.getGroup)
	a.handle("DELETE /api/v1/groups/{group}", httpx.Admin, a.deleteGroup)
	a.handle("POST /api/v1/groups/{group}/reset-offsets", httpx.Admin, a.resetOffsets)
	return a
}

// Close ends every long poll and event stream under way, and makes new
// ones answer at once. The server calls it as it shuts down: without it,
// http.Server.Shutdown would wait for event streams that never end.
func (a *API) Close() {
	a.closeOnce.Do(func() { close(a.done) })
}

// ServeHTTP serves the API's paths (httpx.Router).
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) { a.router.ServeHTTP(w, r) }

// handle registers h behind basic auth, for users with one of tags.
func (a *API) handle(pattern string, tags []string, h func(w http.ResponseWriter, r *http.Request)) {
	wrapped := a.auth.Wrap(tags, func(w http.ResponseWriter, r *http.Request, _ *auth.User) { h(w, r) })
	a.add(pattern, tags, wrapped)
}

// public registers h without authentication.
func (a *API) public(pattern string, h http.HandlerFunc) { a.add(pattern, nil, h) }

func (a *API) add(pattern string, tags []string, h http.HandlerFunc) {
	a.router.Handle(pattern, tags, h)
}

// readBody decodes a JSON body into v strictly: unknown fields are
// mistakes the client is told of (a misspelt field
// would otherwise be dropped without a word). Numbers in an `any` stay
// exact (json.Number). Size and syntax are checked by httpx.ReadJSON,
// which answers itself when it fails.
func readBody(w http.ResponseWriter, r *http.Request, v any) bool {
	var raw json.RawMessage
	if !httpx.ReadJSON(w, r, &raw) {
		return false
	}
	d := json.NewDecoder(bytes.NewReader(raw))
	d.DisallowUnknownFields()
	d.UseNumber()
	if err := d.Decode(v); err != nil {
		httpx.Error(w, http.StatusBadRequest, "bad_request", "body: "+jsonProblem(err))
		return false
	}
	return true
}

// jsonProblem says what is wrong with a body in the client's terms.
func jsonProblem(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		if te.Field != "" {
			return fmt.Sprintf("field %q: want %s, got JSON %s", te.Field, te.Type, te.Value)
		}
		return fmt.Sprintf("want %s, got JSON %s", te.Type, te.Value)
	}
	return strings.TrimPrefix(err.Error(), "json: ")
}

// writeError answers an error of the broker with the status it stands
// for.
func writeError(w http.ResponseWriter, err error) {
	status, kind, reason := errorStatus(err)
	httpx.Error(w, status, kind, reason)
}

// errorStatus maps an error of the broker onto a status, an error kind
// and a reason. Nothing maps to 500: what is not the client's doing is
// the storage's or a shutdown's, and both are 503.
func errorStatus(err error) (status int, kind, reason string) {
	status, kind = http.StatusServiceUnavailable, "unavailable"
	switch {
	case errors.Is(err, logstore.ErrCorrupt):
		// Stored data damaged on disk (the reason names the offsets): the
		// storage's doing, not the client's, though it wraps
		// ErrCorruptMessage as a bad produced batch does.
	case errors.Is(err, broker.ErrUnknownTopic):
		status, kind = http.StatusNotFound, "not_found"
	case errors.Is(err, broker.ErrTopicExists):
		status, kind = http.StatusConflict, "conflict"
	case errors.Is(err, broker.ErrInvalidTopic), errors.Is(err, broker.ErrInvalidPartitions),
		errors.Is(err, broker.ErrInvalidConfig), errors.Is(err, broker.ErrInvalidRecord),
		errors.Is(err, broker.ErrCorruptMessage), errors.Is(err, broker.ErrPolicyViolation):
		status, kind = http.StatusBadRequest, "bad_request"
	case errors.Is(err, broker.ErrMessageTooLarge):
		status, kind = http.StatusRequestEntityTooLarge, "too_large"
	case errors.Is(err, broker.ErrOffsetOutOfRange):
		status, kind = http.StatusRequestedRangeNotSatisfiable, "offset_out_of_range"
	case errors.Is(err, broker.ErrClosed), errors.Is(err, errClosing):
		return status, kind, "the broker is shutting down"
	}
	return status, kind, strings.TrimPrefix(err.Error(), "broker: ")
}

// errClosing ends requests when Close has been called.
var errClosing = errors.New("streamapi: the server is shutting down")
