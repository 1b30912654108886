package queue

import (
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/loftmq/loft/internal/fs"
	"github.com/loftmq/loft/internal/logstore"
)

// store is a log store over an in-memory file system, reopenable.
type store struct {
	t    *testing.T
	fsys *fs.Mem
	s    *logstore.Store
}

func newStore(t *testing.T) *store {
	st := &store{t: t, fsys: fs.NewMem()}
	st.open()
	return st
}

func (st *store) open() {
	s, err := logstore.Open(st.fsys, "data", logstore.Options{Logger: slog.New(slog.DiscardHandler), CleanInterval: -1})
	if err != nil {
		st.t.Fatal(err)
	}
	st.s = s
	st.t.Cleanup(func() { s.Close() })
}

func (st *store) log(name string) *logstore.Log {
	if l, ok := st.s.Log(name); ok {
		return l
	}
	cfg := logstore.DefaultConfig()
	cfg.SegmentBytes, cfg.RetentionAge = 4096, -1
	l, err := st.s.Create(name, cfg)
	if err != nil {
		st.t.Fatal(err)
	}
	return l
}

func (st *store) queue(cacheBytes int) *Queue {
	q, err := Open(Config{Name: "q", Log: st.log("q"), Acks: st.log("q.acks"), CacheBytes: cacheBytes,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		st.t.Fatal(err)
	}
	return q
}

// restart closes the queue and the store and opens both again.
func (st *store) restart(q *Queue, cacheBytes int) *Queue {
	q.Close()
	st.s.Close()
	st.open()
	return st.queue(cacheBytes)
}

func enqueue(t *testing.T, q *Queue, body string, persistent bool) {
	t.Helper()
	m := &Message{Exchange: "x", RoutingKey: "k", Properties: []byte{0, 0}, Body: []byte(body), Persistent: persistent}
	done := make(chan error, 1)
	q.Enqueue(Encode(nil, m), m, func(err error) { done <- err })
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func get(t *testing.T, q *Queue) (*Message, bool) {
	t.Helper()
	_, m, redelivered, _, _, err := q.Get(false)
	if err != nil {
		t.Fatal(err)
	}
	return m, redelivered
}

func bodies(t *testing.T, q *Queue, n int) []string {
	t.Helper()
	var out []string
	for range n {
		m, _ := get(t, q)
		if m == nil {
			t.Fatalf("got %v, then nothing", out)
		}
		out = append(out, string(m.Body))
	}
	return out
}

func TestRequeueGoesBackToItsPlace(t *testing.T) {
	for _, cache := range []int{DefaultCacheBytes, 1} { // from memory and from the log
		t.Run(fmt.Sprintf("cache=%d", cache), func(t *testing.T) {
			q := newStore(t).queue(cache)
			for i := 1; i <= 5; i++ {
				enqueue(t, q, fmt.Sprintf("m%d", i), true)
			}
			var got []*Message
			for range 3 {
				m, _ := get(t, q)
				got = append(got, m)
			}
			q.Requeue(got[1].Offset)
			m, redelivered := get(t, q)
			if string(m.Body) != "m2" || !redelivered {
				t.Fatalf("after requeue: %s redelivered=%v, want m2 redelivered", m.Body, redelivered)
			}
			q.Requeue(got[2].Offset, got[0].Offset)
			if b := fmt.Sprint(bodies(t, q, 4)); b != "[m1 m3 m4 m5]" {
				t.Fatalf("order %s", b)
			}
			if ready, unacked, _ := q.Counts(); ready != 0 || unacked != 5 {
				t.Fatalf("ready %d unacked %d", ready, unacked)
			}
		})
	}
}

func TestAcksSurviveRestart(t *testing.T) {
	st := newStore(t)
	q := st.queue(0)
	for i := range 20 {
		enqueue(t, q, fmt.Sprintf("m%d", i), true)
	}
	enqueue(t, q, "transient", false)
	// Ack m0..m4 and m7; deliver m5, m6 without acking.
	for i := range 8 {
		m, _ := get(t, q)
		if i < 5 || i == 7 {
			q.Ack(m.Offset)
		}
	}
	q = st.restart(q, 0)
	if ready, _, _ := q.Counts(); ready != 15 {
		t.Fatalf("ready after restart %d, want 15 (14 persistent + 1 transient not yet skipped)", ready)
	}
	want := []string{"m5", "m6"}
	for i := 8; i < 20; i++ {
		want = append(want, fmt.Sprintf("m%d", i))
	}
	for i, w := range want {
		m, redelivered := get(t, q)
		if m == nil || string(m.Body) != w {
			t.Fatalf("message %d after restart: %v, want %s", i, m, w)
		}
		// m5 and m6 had been delivered before the restart.
		if redelivered != (i < 2) {
			t.Fatalf("%s redelivered=%v", w, redelivered)
		}
		q.Ack(m.Offset)
	}
	if m, _ := get(t, q); m != nil {
		t.Fatalf("the transient message survived the restart: %s", m.Body)
	}
	if ready, unacked, _ := q.Counts(); ready != 0 || unacked != 0 {
		t.Fatalf("ready %d unacked %d", ready, unacked)
	}
}

func TestPurge(t *testing.T) {
	st := newStore(t)
	q := st.queue(0)
	for i := range 10 {
		enqueue(t, q, fmt.Sprintf("m%d", i), true)
	}
	m0, _ := get(t, q)
	m1, _ := get(t, q)
	q.Requeue(m1.Offset)
	if n := q.Purge(); n != 9 {
		t.Fatalf("purged %d, want 9", n)
	}
	if m, _ := get(t, q); m != nil {
		t.Fatalf("after purge: %s", m.Body)
	}
	q.Requeue(m0.Offset)
	if m, _ := get(t, q); m == nil || string(m.Body) != "m0" {
		t.Fatalf("the unacked message did not survive the purge")
	}
	q = st.restart(q, 0)
	if ready, _, _ := q.Counts(); ready != 1 {
		t.Fatalf("ready after restart %d, want 1 (m0, never acked)", ready)
	}
}

// TestAckLogTrimmed checks that acking everything lets the message log
// drop its segments and the ack log stay small, across many flushes.
func TestAckLogTrimmed(t *testing.T) {
	st := newStore(t)
	q := st.queue(0)
	for i := range 2000 {
		enqueue(t, q, fmt.Sprintf("message %d", i), true)
		m, _ := get(t, q)
		q.Ack(m.Offset)
		q.mu.Lock()
		q.flushAcksLocked()
		q.trimmed = q.trimmed.Add(-trimEvery)
		q.mu.Unlock()
	}
	// Trims run in the background: wait for the last one.
	l := st.log("q")
	for deadline := time.Now().Add(5 * time.Second); l.StartOffset() < l.HighWatermark()-1; {
		if time.Now().After(deadline) {
			t.Fatalf("log start %d, end %d: not trimmed", l.StartOffset(), l.HighWatermark())
		}
		time.Sleep(time.Millisecond)
	}
	q = st.restart(q, 0)
	if ready, _, _ := q.Counts(); ready != 0 {
		t.Fatalf("ready after restart %d, want 0", ready)
	}
	if n := st.log("q").Segments(); n > 2 {
		t.Errorf("message log keeps %d segments though every message is acked", n)
	}
	if acks := st.log("q.acks"); acks.HighWatermark()-acks.StartOffset() > 2*snapshotEvery {
		t.Errorf("ack log holds %d records", acks.HighWatermark()-acks.StartOffset())
	}
}

func TestRanges(t *testing.T) {
	var r ranges
	for _, s := range []span{{10, 12}, {12, 15}, {20, 21}, {5, 7}, {6, 11}, {30, 40}, {14, 31}} {
		r.add(s.from, s.to)
	}
	if fmt.Sprint(r.s) != "[{5 40}]" || r.n != 35 {
		t.Fatalf("spans %v n %d", r.s, r.n)
	}
	r.dropBelow(38)
	if fmt.Sprint(r.s) != "[{38 40}]" || r.n != 2 {
		t.Fatalf("after dropBelow: %v n %d", r.s, r.n)
	}
	if ok, end := r.has(39); !ok || end != 40 {
		t.Fatalf("has(39) = %v %d", ok, end)
	}
	if c := r.count(0, 39); c != 1 {
		t.Fatalf("count = %d", c)
	}
	rec := appendAckRecord(nil, ackDelta, 100, 150, []span{{100, 101}, {120, 130}})
	a, err := parseAckRecord(rec)
	if err != nil || a.floor != 100 || a.delivered != 150 || fmt.Sprint(a.spans) != "[{100 101} {120 130}]" {
		t.Fatalf("parse = %+v, %v", a, err)
	}
	for i := range rec {
		if _, err := parseAckRecord(rec[:i]); err == nil && i < len(rec)-1 {
			t.Errorf("truncated record of %d bytes parsed", i)
		}
	}
}

func TestBudgetBoundsAllCaches(t *testing.T) {
	st := newStore(t)
	b := NewBudget(64 << 10)
	var qs []*Queue
	for i := range 4 {
		q, err := Open(Config{Name: fmt.Sprint(i), Log: st.log(fmt.Sprint("q", i)), Acks: st.log(fmt.Sprint("q", i, ".acks")),
			Budget: b, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		qs = append(qs, q)
	}
	body := string(make([]byte, 1000))
	for range 200 {
		for _, q := range qs {
			enqueue(t, q, body, true)
		}
	}
	if used := b.used.Load(); used > 64<<10+4*2048 {
		t.Fatalf("caches hold %d bytes, budget %d", used, 64<<10)
	}
	// Everything is still there, read back from the logs.
	for _, q := range qs {
		if got := len(bodies(t, q, 200)); got != 200 {
			t.Fatalf("got %d messages", got)
		}
		q.Delete()
	}
	if used := b.used.Load(); used != 0 {
		t.Fatalf("deleted queues leave %d bytes counted", used)
	}
}

func TestExpiry(t *testing.T) {
	st := newStore(t)
	now := time.UnixMilli(1_000_000)
	clock := func() time.Time { return now }
	q, err := Open(Config{Name: "ttl", Log: st.log("ttl"), Acks: st.log("ttl.acks"), Limits: Limits{MessageTTL: 100 * time.Millisecond},
		Now: clock, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	put := func(body string, expires int64) {
		m := &Message{Timestamp: now.UnixMilli(), Properties: []byte{0, 0}, Body: []byte(body), Persistent: true, Expires: expires}
		done := make(chan error, 1)
		q.Enqueue(Encode(nil, m), m, func(err error) { done <- err })
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	put("queue ttl", 0)                       // expires at +100 ms
	put("own expiration", now.UnixMilli()+10) // expires at +10 ms
	put("later", 0)
	now = now.Add(50 * time.Millisecond)
	m, _ := get(t, q)
	if m == nil || string(m.Body) != "queue ttl" {
		t.Fatalf("at +50 ms got %v, want the message the queue TTL keeps until +100 ms", m)
	}
	q.Requeue(m.Offset)
	now = now.Add(100 * time.Millisecond)
	if m, _ := get(t, q); m != nil {
		t.Fatalf("at +150 ms got %q: everything has expired", m.Body)
	}
	if ready, _, _ := q.Counts(); ready != 0 {
		t.Fatalf("ready %d after expiry", ready)
	}
}

func TestMaxLengthBytesAcrossRestart(t *testing.T) {
	st := newStore(t)
	open := func() *Queue {
		q, err := Open(Config{Name: "b", Log: st.log("b"), Acks: st.log("b.acks"),
			Limits: Limits{HasMaxLengthBytes: true, MaxLengthBytes: 3000}, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		return q
	}
	q := open()
	body := string(make([]byte, 1000))
	for range 3 {
		enqueue(t, q, body, true)
	}
	m, _ := get(t, q) // one unacked: it does not count
	q.Close()
	st.s.Close()
	st.open()
	q = open()
	// After the restart the two ready ones and the unacked one (ready
	// again) are counted: 3000 bytes. A fourth pushes the oldest out.
	enqueue(t, q, body, true)
	if ready, _, _ := q.Counts(); ready != 3 {
		t.Fatalf("ready %d, want 3 after dropping the oldest", ready)
	}
	if got, _ := get(t, q); got == nil || got.Offset != m.Offset+1 {
		t.Fatalf("head after overflow: %v, want offset %d", got, m.Offset+1)
	}
}

// TestDedupKeysStayBounded acks messages out of order, newest first, so
// that gone keys pile up behind the oldest, which stays: the sweep must
// still keep the remembered keys near the messages present.
func TestDedupKeysStayBounded(t *testing.T) {
	st := newStore(t)
	q, err := Open(Config{Name: "q", Log: st.log("q"), Acks: st.log("q.acks"), Deduplicate: true,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	var first *Message
	for i := range 10000 {
		m := &Message{Properties: []byte{0, 0}, Body: []byte("x"), Persistent: true, DedupKey: fmt.Sprint("k", i)}
		done := make(chan error, 1)
		q.Enqueue(Encode(nil, m), m, func(err error) { done <- err })
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		got, _ := get(t, q)
		if i == 0 {
			first = got // held unacked throughout
		} else {
			q.Ack(got.Offset)
		}
	}
	q.mu.Lock()
	keys, order := len(q.dedupKeys), len(q.dedupOrder)
	dup := q.duplicate("k0")
	q.mu.Unlock()
	if !dup {
		t.Fatal("k0 is unacked in the queue but not a duplicate")
	}
	if keys > 3000 || order > 3000 {
		t.Fatalf("%d keys, %d in order for 1 message present", keys, order)
	}
	q.Ack(first.Offset)
}

// TestReturnsSurviveRestart: how often a message was given back is in the
// ack log, also across the snapshots that trim it, so a restart neither
// resets x-delivery-count nor grants a poison message more deliveries.
func TestReturnsSurviveRestart(t *testing.T) {
	st := newStore(t)
	q := st.queue(0)
	enqueue(t, q, "poison", true)
	for range 2 {
		m, _ := get(t, q)
		q.Requeue(m.Offset)
	}
	// Enough acks of other messages for snapshots to trim the ack log.
	for i := range 2 * snapshotEvery {
		enqueue(t, q, fmt.Sprint("m", i), true)
	}
	_, m, _, returns, _, err := q.Get(false)
	if err != nil || string(m.Body) != "poison" || returns != 2 {
		t.Fatalf("before: %v %q returns %d", err, m.Body, returns)
	}
	// Held unacked while the others are acked one record each, so that
	// snapshots come round and trim the records before them.
	for range 2 * snapshotEvery {
		got, _ := get(t, q)
		q.Ack(got.Offset)
		q.flushAcks()
	}
	// The trim follows the snapshot's append, from a goroutine.
	for deadline := time.Now().Add(5 * time.Second); q.acks.StartOffset() == 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the ack log was never trimmed: the test does not cover snapshots")
		}
	}
	q = st.restart(q, 0)
	_, m, _, returns, _, err = q.Get(false)
	if err != nil || m == nil || string(m.Body) != "poison" {
		t.Fatalf("after the restart: %v %v", err, m)
	}
	if returns != 2 {
		t.Fatalf("after the restart: returns %d, want 2 (kept across the snapshots)", returns)
	}
}

// TestAcksPastTheLogEndAreForgotten: a consumer may ack a message served
// from the cache before the message is written, and a crash may then keep
// the ack but not the message. The acks past the log's end must not ack
// the new messages that take those offsets, after this restart or the
// next.
func TestAcksPastTheLogEndAreForgotten(t *testing.T) {
	st := newStore(t)
	q := st.queue(DefaultCacheBytes)
	enqueue(t, q, "m0", true)
	enqueue(t, q, "m1", true)
	m0, _ := get(t, q)
	m1, _ := get(t, q)
	q.Ack(m0.Offset, m1.Offset)
	q.Close()
	// What the crash left: acks, a delivery mark and a delivery count of
	// offsets 2 to 8, which the message log never got.
	recs := []logstore.Record{
		{Value: appendAckRecord(nil, ackDelta, 5, 6, []span{{7, 9}})},
		{Offset: 1, Value: appendReturnsRecord(nil, []offsetReturns{{3, 2}})},
	}
	if _, err := st.log("q.acks").Append(logstore.AppendBatch(nil, logstore.BatchOptions{ProducerID: -1}, recs)); err != nil {
		t.Fatal(err)
	}
	q = st.restart(q, DefaultCacheBytes)
	if ready, _, _ := q.Counts(); ready != 0 {
		t.Fatalf("%d ready after the restart, want 0", ready)
	}
	for i := 2; i < 10; i++ {
		enqueue(t, q, fmt.Sprintf("m%d", i), true)
	}
	check := func(when string) {
		t.Helper()
		for i := 2; i < 10; i++ {
			m, redelivered := get(t, q)
			if m == nil || string(m.Body) != fmt.Sprintf("m%d", i) {
				t.Fatalf("%s: message %d is %v", when, i, m)
			}
			if redelivered && when == "first" {
				t.Errorf("%s: m%d flagged redelivered", when, i)
			}
		}
	}
	check("first")
	// Not acked: all of them come back after the next restart, the stale
	// acks not replayed.
	q = st.restart(q, DefaultCacheBytes)
	if ready, _, _ := q.Counts(); ready != 8 {
		t.Fatalf("%d ready after the second restart, want 8", ready)
	}
	check("second")
}
