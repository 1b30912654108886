package queue

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

// A message damaged on disk is skipped with an Error line and counted as
// gone: the queue delivers every intact message before and after it, in
// order, reopens (its read-back at open steps over the damage too, for a
// queue bounded in bytes), and its counts add up.
func TestDamagedMessageIsSkipped(t *testing.T) {
	for _, bounded := range []bool{false, true} {
		t.Run(fmt.Sprintf("bounded=%v", bounded), func(t *testing.T) {
			st := newStore(t)
			var logs bytes.Buffer
			open := func() *Queue {
				cfg := Config{Name: "q", Log: st.log("q"), Acks: st.log("q.acks"), CacheBytes: 1,
					Logger: slog.New(slog.NewTextHandler(&logs, nil))}
				if bounded {
					cfg.Limits = Limits{HasMaxLengthBytes: true, MaxLengthBytes: 1 << 20}
				}
				q, err := Open(cfg)
				if err != nil {
					t.Fatal(err)
				}
				return q
			}
			q := open()
			for i := range 10 {
				enqueue(t, q, fmt.Sprintf("message-%d", i), true)
			}
			q.Close()
			st.s.Close()
			// Damage message 4 on disk.
			seg := "data/q/00000000000000000000.log"
			data, err := st.fsys.ReadFile(seg)
			if err != nil {
				t.Fatal(err)
			}
			at := bytes.Index(data, []byte("message-4"))
			data[at+3] ^= 0x01
			if err := st.fsys.WriteFile(seg, data); err != nil {
				t.Fatal(err)
			}
			st.open()
			q = open()
			var got []string
			for {
				m, _ := get(t, q)
				if m == nil {
					break
				}
				got = append(got, string(m.Body))
				q.Ack(m.Offset)
			}
			want := "message-0 message-1 message-2 message-3 message-5 message-6 message-7 message-8 message-9"
			if strings.Join(got, " ") != want {
				t.Fatalf("delivered %v, want %s", got, want)
			}
			if ready, unacked, _ := q.Counts(); ready != 0 || unacked != 0 {
				t.Fatalf("ready %d, unacked %d after draining, want 0, 0", ready, unacked)
			}
			if !strings.Contains(logs.String(), "queue: skipped messages damaged on disk") {
				t.Fatalf("no log line for the skipped message:\n%s", logs.String())
			}
			// The queue goes on: a new message is delivered.
			enqueue(t, q, "after", true)
			if m, _ := get(t, q); m == nil || string(m.Body) != "after" {
				t.Fatalf("after the damage: %v", m)
			}
		})
	}
}
