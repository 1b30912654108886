package queue

import (
	"log/slog"
	"sync"
	"testing"
)

// TestTotals checks that each kind of event is counted once: publishes,
// deliveries by basic.get (redelivered after a requeue), acks, and
// rejects handed to the dead-letter hook.
func TestTotals(t *testing.T) {
	st := newStore(t)
	var mu sync.Mutex
	var dead []string
	q, err := Open(Config{Name: "q", Log: st.log("q"), Acks: st.log("q.acks"), Logger: slog.New(slog.DiscardHandler),
		Limits: Limits{DeadLetter: func(m *Message, reason string, stored func()) {
			mu.Lock()
			dead = append(dead, reason)
			mu.Unlock()
			go stored()
		}}})
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		enqueue(t, q, "m", true)
	}
	a, _ := get(t, q)
	b, _ := get(t, q)
	c, _ := get(t, q)
	q.Ack(a.Offset)
	q.Ack(a.Offset) // a second ack of the same message is ignored
	q.Requeue(b.Offset)
	if m, redelivered := get(t, q); m.Offset != b.Offset || !redelivered {
		t.Fatalf("got offset %d redelivered=%v, want %d redelivered", m.Offset, redelivered, b.Offset)
	}
	q.Reject(c.Offset)

	want := Totals{Published: 5, Delivered: 4, Redelivered: 1, Acked: 1, DeadLettered: 1}
	if got := q.Totals(); got != want {
		t.Fatalf("totals %+v, want %+v", got, want)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(dead) != 1 || dead[0] != ReasonRejected {
		t.Fatalf("dead-letter hook saw %v", dead)
	}
}

// TestTotalsOfLevels sums the levels a priority queue opened.
func TestTotalsOfLevels(t *testing.T) {
	st := newStore(t)
	open := func(level int) (*Queue, error) {
		name := "p" + string(rune('0'+level))
		return Open(Config{Name: name, Log: st.log(name), Acks: st.log(name + ".acks"), Logger: slog.New(slog.DiscardHandler)})
	}
	l, err := OpenLevels(2, nil, open)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for _, p := range []uint8{0, 2, 2} {
		m := &Message{Properties: []byte{0, 0}, Body: []byte("x"), Persistent: true, Priority: p}
		done := make(chan error, 1)
		l.Enqueue(Encode(nil, m), m, func(err error) { done <- err })
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	from, m, _, _, _, err := l.Get(false)
	if err != nil || m == nil {
		t.Fatalf("get: %v %v", m, err)
	}
	from.Ack(m.Offset)
	want := Totals{Published: 3, Delivered: 1, Acked: 1}
	if got := l.Totals(); got != want {
		t.Fatalf("totals %+v, want %+v", got, want)
	}
}
