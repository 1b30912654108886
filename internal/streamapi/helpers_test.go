package streamapi

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/loftmq/loft/internal/auth"
	"github.com/loftmq/loft/internal/broker"
	"github.com/loftmq/loft/internal/fs"
	"github.com/loftmq/loft/internal/group"
	"github.com/loftmq/loft/internal/kafka"
	"github.com/loftmq/loft/internal/logstore"
	"github.com/loftmq/loft/internal/meta"
)

// testTimeout bounds every wait of a test.
const testTimeout = 30 * time.Second

// Users of every test stack, besides guest/guest (administrator).
var testUsers = []struct {
	name string
	tags []string
}{
	{"mgmt", []string{"management"}},
	{"mon", []string{"monitoring"}},
	{"plain", nil},
}

// stack is the whole model on a temporary directory, the API on an
// httptest server at 127.0.0.1, and (with kafka) the Kafka listener.
type stack struct {
	t     testing.TB
	store *logstore.Store
	md    *meta.Store
	b     *broker.Broker
	g     *group.Coordinator
	users *auth.Store
	api   *API
	srv   *httptest.Server
	kafka *kafka.Server
	kaddr string
}

type stackOpts struct {
	kafka     bool
	heartbeat time.Duration
	// serverTimeouts sets the http.Server's read and write timeouts, as
	// internal/server does, to check that long requests outlive them.
	serverTimeouts time.Duration
}

func newStack(t testing.TB, opts stackOpts) *stack {
	t.Helper()
	logger := slog.New(slog.DiscardHandler)
	s := &stack{t: t}
	var err error
	if s.store, err = logstore.Open(fs.OS(), t.TempDir(), logstore.Options{Logger: logger, CleanInterval: -1}); err != nil {
		t.Fatalf("logstore.Open: %v", err)
	}
	if s.md, err = meta.Open(s.store); err != nil {
		t.Fatalf("meta.Open: %v", err)
	}
	if s.b, err = broker.Open(s.store, s.md, broker.Options{Logger: logger}); err != nil {
		t.Fatalf("broker.Open: %v", err)
	}
	if s.g, err = group.New(s.md, group.Options{Logger: logger, MinSessionTimeout: 100 * time.Millisecond}); err != nil {
		t.Fatalf("group.New: %v", err)
	}
	ctx := testCtx(t)
	if s.users, err = auth.Open(ctx, s.md); err != nil {
		t.Fatalf("auth.Open: %v", err)
	}
	for _, u := range testUsers {
		if err := s.users.AddUser(ctx, u.name, "pw", u.tags); err != nil {
			t.Fatalf("AddUser %s: %v", u.name, err)
		}
	}
	s.api = New(Config{Broker: s.b, Groups: s.g, Users: s.users, Logger: logger, Heartbeat: opts.heartbeat, MaxWait: 5 * time.Second})
	s.srv = httptest.NewUnstartedServer(s.api)
	if opts.serverTimeouts > 0 {
		s.srv.Config.ReadTimeout = opts.serverTimeouts
		s.srv.Config.WriteTimeout = opts.serverTimeouts
	}
	s.srv.Config.RegisterOnShutdown(s.api.Close)
	s.srv.Start()
	// A fresh connection per request: on a reused one, net/http retries
	// a GET that got no answer, which would hide a connection cut by the
	// server's timeouts.
	s.srv.Client().Transport.(*http.Transport).DisableKeepAlives = true
	if opts.kafka {
		id, err := kafka.ClusterID(ctx, s.md)
		if err != nil {
			t.Fatalf("ClusterID: %v", err)
		}
		s.kafka = kafka.New(kafka.Config{ClusterID: id}, s.b, s.g, logger)
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("listen: %v", err)
		}
		s.kaddr = ln.Addr().String()
		go s.kafka.Serve(ln)
	}
	t.Cleanup(s.stop)
	return s
}

// stop closes everything in the order internal/server does: listeners
// first, then the model.
func (s *stack) stop() {
	s.api.Close()
	s.srv.Close()
	if s.kafka != nil {
		s.kafka.Close()
	}
	for _, c := range []struct {
		name string
		fn   func() error
	}{{"group", s.g.Close}, {"broker", s.b.Close}, {"meta", s.md.Close}, {"store", s.store.Close}} {
		if err := c.fn(); err != nil {
			s.t.Errorf("close %s: %v", c.name, err)
		}
	}
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

// reply is an answer of the API.
type reply struct {
	status int
	header http.Header
	body   []byte
}

// json decodes the body into a generic value.
func (r reply) json(t testing.TB) map[string]any {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal(r.body, &v); err != nil {
		t.Fatalf("body %q: %v", r.body, err)
	}
	return v
}

// decode decodes the body into v.
func (r reply) decode(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("body %q: %v", r.body, err)
	}
}

// req sends a request as user (guest when ""; none when "-") with body
// (JSON-encoded unless a string or nil).
func (s *stack) req(method, path, user string, body any) reply {
	s.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			s.t.Fatalf("marshal: %v", err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequestWithContext(testCtx(s.t), method, s.srv.URL+path, rd)
	if err != nil {
		s.t.Fatalf("NewRequest: %v", err)
	}
	switch user {
	case "":
		req.SetBasicAuth("guest", "guest")
	case "-":
	default:
		req.SetBasicAuth(user, "pw")
	}
	resp, err := s.srv.Client().Do(req)
	if err != nil {
		s.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		s.t.Fatalf("%s %s: read: %v", method, path, err)
	}
	return reply{status: resp.StatusCode, header: resp.Header, body: b}
}

// must sends a request as guest and fails the test unless it gets want.
func (s *stack) must(want int, method, path string, body any) reply {
	s.t.Helper()
	r := s.req(method, path, "", body)
	if r.status != want {
		s.t.Fatalf("%s %s: %d %s, want %d", method, path, r.status, r.body, want)
	}
	return r
}

// wantError checks an error answer: its status, a JSON body with the
// error kind, and a reason holding want.
func wantError(t testing.TB, r reply, status int, kind, want string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d (%s), want %d", r.status, r.body, status)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
	v := r.json(t)
	if v["error"] != kind {
		t.Errorf("error %v, want %q (body %s)", v["error"], kind, r.body)
	}
	if reason, _ := v["reason"].(string); !strings.Contains(reason, want) {
		t.Errorf("reason %q, want it to hold %q", reason, want)
	}
}

// createTopic creates a topic through the API.
func (s *stack) createTopic(name string, partitions int) {
	s.t.Helper()
	s.must(http.StatusCreated, "POST", "/api/v1/topics", map[string]any{"name": name, "partitions": partitions})
}

// produce writes records straight to the broker, as a Kafka producer
// would, and waits until they are durable.
func (s *stack) produce(topic string, partition int32, recs ...logstore.Record) int64 {
	s.t.Helper()
	t, ok := s.b.Topic(topic)
	if !ok {
		s.t.Fatalf("no topic %s", topic)
	}
	p, _ := t.Partition(partition)
	for i := range recs {
		recs[i].Offset = int64(i)
		if recs[i].Timestamp == 0 {
			recs[i].Timestamp = time.Now().UnixMilli()
		}
	}
	done := make(chan broker.ProduceResult, 1)
	p.Produce(logstore.AppendBatch(nil, logstore.BatchOptions{ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1}, recs),
		func(r broker.ProduceResult) { done <- r })
	select {
	case r := <-done:
		if r.Err != nil {
			s.t.Fatalf("produce: %v", r.Err)
		}
		return r.BaseOffset
	case <-time.After(testTimeout):
		s.t.Fatalf("produce: no answer")
	}
	return -1
}

// client returns a franz-go client of the Kafka listener.
func (s *stack) client(opts ...kgo.Opt) *kgo.Client {
	s.t.Helper()
	opts = append([]kgo.Opt{kgo.SeedBrokers(s.kaddr), kgo.RetryTimeout(testTimeout)}, opts...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		s.t.Fatalf("kgo.NewClient: %v", err)
	}
	s.t.Cleanup(cl.Close)
	return cl
}

// eventReader reads a Server-Sent Events stream in the background.
type eventReader struct {
	events chan sseEvent // closed at the end of the stream
	resp   *http.Response
}

// sseEvent is one event, or a comment (Comment set).
type sseEvent struct {
	ID, Event, Data, Comment string
}

// openStream opens an event stream as guest and reads it in the
// background until it ends.
func (s *stack) openStream(ctx context.Context, path string, header http.Header) *eventReader {
	s.t.Helper()
	req, err := http.NewRequestWithContext(ctx, "GET", s.srv.URL+path, nil)
	if err != nil {
		s.t.Fatalf("NewRequest: %v", err)
	}
	req.SetBasicAuth("guest", "guest")
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := s.srv.Client().Do(req)
	if err != nil {
		s.t.Fatalf("GET %s: %v", path, err)
	}
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		s.t.Fatalf("GET %s: %d %s", path, resp.StatusCode, b)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		s.t.Errorf("Content-Type %q", ct)
	}
	er := &eventReader{events: make(chan sseEvent, 1000), resp: resp}
	go er.read()
	s.t.Cleanup(func() { resp.Body.Close() })
	return er
}

// read parses the stream: the fields up to a blank line make an event; a
// line starting with ':' is a comment.
func (er *eventReader) read() {
	defer close(er.events)
	sc := bufio.NewScanner(er.resp.Body)
	sc.Buffer(nil, 4<<20)
	var ev sseEvent
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			if ev != (sseEvent{}) {
				er.events <- ev
			}
			ev = sseEvent{}
			continue
		}
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "":
			ev.Comment = value
		case "id":
			ev.ID = value
		case "event":
			ev.Event = value
		case "data":
			ev.Data += value
		}
	}
}

// next returns the next event or comment, or false at the end of the
// stream, failing the test after timeout.
func (er *eventReader) next(t testing.TB, timeout time.Duration) (sseEvent, bool) {
	t.Helper()
	select {
	case ev, ok := <-er.events:
		return ev, ok
	case <-time.After(timeout):
		t.Fatalf("no event within %v", timeout)
	}
	return sseEvent{}, false
}

// nextRecord skips comments and returns the next record event decoded.
func (er *eventReader) nextRecord(t testing.TB) outRecord {
	t.Helper()
	for {
		ev, ok := er.next(t, testTimeout)
		if !ok {
			t.Fatalf("the stream ended")
		}
		if ev.Comment != "" {
			continue
		}
		if ev.Event != "record" {
			t.Fatalf("event %+v, want a record", ev)
		}
		var r outRecord
		if err := json.Unmarshal([]byte(ev.Data), &r); err != nil {
			t.Fatalf("data %q: %v", ev.Data, err)
		}
		if ev.ID != strconv.FormatInt(r.Offset, 10) {
			t.Errorf("id %q for offset %d", ev.ID, r.Offset)
		}
		return r
	}
}
