package queue

import (
	"errors"
	"fmt"
	"log/slog"
	"syscall"
	"testing"

	"github.com/loftmq/loft/internal/fs"
	"github.com/loftmq/loft/internal/fs/faultfs"
	"github.com/loftmq/loft/internal/logstore"
)

// faultyQueue opens queue "q" on a Mem behind inj; reopen closes it and
// opens it again on the Mem alone.
func faultyQueue(t *testing.T, inj faultfs.Injector) (q *Queue, reopen func() *Queue) {
	t.Helper()
	mem := fs.NewMem()
	open := func(fsys fs.FS) (*logstore.Store, *Queue) {
		s, err := logstore.Open(fsys, "data", logstore.Options{Logger: slog.New(slog.DiscardHandler), CleanInterval: -1})
		if err != nil {
			t.Fatal(err)
		}
		logs := make([]*logstore.Log, 2)
		for i, name := range []string{"q", "q.acks"} {
			l, ok := s.Log(name)
			if !ok {
				if l, err = s.Create(name, logstore.DefaultConfig()); err != nil {
					t.Fatal(err)
				}
			}
			logs[i] = l
		}
		q, err := Open(Config{Name: "q", Log: logs[0], Acks: logs[1], Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		return s, q
	}
	s, q := open(faultfs.New(mem, inj))
	t.Cleanup(func() { q.Close(); s.Close() })
	return q, func() *Queue {
		q.Close()
		s.Close()
		s, q = open(mem)
		return q
	}
}

// enqueueErr enqueues body and returns the outcome.
func enqueueErr(q *Queue, body string) error {
	m := &Message{Exchange: "x", RoutingKey: "k", Properties: []byte{0, 0}, Body: []byte(body), Persistent: true}
	done := make(chan error, 1)
	q.Enqueue(Encode(nil, m), m, func(err error) { done <- err })
	return <-done
}

// onMessageLog limits inj to the message log: the ack log goes on.
func onMessageLog(inj faultfs.Injector) faultfs.Injector {
	return faultfs.PathContains("/q/", inj)
}

// TestQueueResumesAfterFailedAppends: messages whose append failed (a
// full disk) are refused and forgotten, and once the disk takes writes
// again the queue takes messages again, without a restart, and delivers
// exactly the stored ones, in order, before and after a restart.
func TestQueueResumesAfterFailedAppends(t *testing.T) {
	var sw faultfs.Switch
	q, reopen := faultyQueue(t, &sw)
	for _, b := range []string{"a", "b"} {
		if err := enqueueErr(q, b); err != nil {
			t.Fatal(err)
		}
	}
	sw.Set(onMessageLog(faultfs.OnOp(faultfs.OpWrite, faultfs.Short(syscall.ENOSPC))))
	for i := range 3 {
		if err := enqueueErr(q, fmt.Sprint("lost", i)); !errors.Is(err, ErrStorage) {
			t.Fatalf("enqueue on a full disk: %v, want ErrStorage", err)
		}
	}
	sw.Clear()
	for _, b := range []string{"c", "d"} {
		if err := enqueueErr(q, b); err != nil {
			t.Fatalf("enqueue after the disk has room again: %v", err)
		}
	}
	if got := fmt.Sprint(bodies(t, q, 4)); got != "[a b c d]" {
		t.Fatalf("delivered %s, want [a b c d]", got)
	}
	if ready, unacked, _ := q.Counts(); ready != 0 || unacked != 4 {
		t.Fatalf("ready %d, unacked %d; want 0, 4", ready, unacked)
	}
	q = reopen()
	if got := fmt.Sprint(bodies(t, q, 4)); got != "[a b c d]" {
		t.Fatalf("after a restart: %s, want [a b c d]", got)
	}
}

// TestAckOfUndurableMessageIsNotWritten: a consumer acks a message that
// is not yet durable, and its append then fails; the next message gets
// its offset. The ack must not reach the ack log, or after a restart it
// would hide the next message, whose publisher was told it was stored.
func TestAckOfUndurableMessageIsNotWritten(t *testing.T) {
	q, reopen, fail := failingAppend(t)
	got, _ := get(t, q) // delivered from the cache before it is durable
	if got == nil || string(got.Body) != "lost" {
		t.Fatalf("got %v, want the message being written", got)
	}
	q.Ack(got.Offset)
	q.flushAcks()
	fail()
	if err := enqueueErr(q, "kept"); err != nil {
		t.Fatal(err)
	}
	q = reopen()
	if got := fmt.Sprint(bodies(t, q, 1)); got != "[kept]" {
		t.Fatalf("after a restart: %s, want [kept]", got)
	}
}

// TestAckOfForgottenDelivery: a consumer holds a message whose append
// then fails; the next message takes its offset and goes to a second
// consumer. The first consumer's late ack settles the forgotten message,
// not the new one, which stays unacked, and so survives a restart.
func TestAckOfForgottenDelivery(t *testing.T) {
	q, reopen, fail := failingAppend(t)
	lost, _ := get(t, q)
	fail()
	if err := enqueueErr(q, "kept"); err != nil {
		t.Fatal(err)
	}
	kept, _ := get(t, q)
	if kept == nil || string(kept.Body) != "kept" || kept.Offset != lost.Offset {
		t.Fatalf("got %v, want the next message at the forgotten one's offset %d", kept, lost.Offset)
	}
	q.Ack(lost.Offset) // late, from the first consumer
	if _, unacked, _ := q.Counts(); unacked != 1 {
		t.Fatalf("%d unacked, want the new message still unacked", unacked)
	}
	q = reopen()
	if got := fmt.Sprint(bodies(t, q, 1)); got != "[kept]" {
		t.Fatalf("after a restart: %s, want [kept]", got)
	}
}

// failingAppend enqueues the message "lost" on a queue whose message log
// holds its fsync: the message is written, and delivered from the cache,
// but not durable. fail then lets the fsync fail with ENOSPC, clears the
// fault for what follows, and checks the publisher was told ErrStorage.
func failingAppend(t *testing.T) (q *Queue, reopen func() *Queue, fail func()) {
	t.Helper()
	syncing, release := make(chan struct{}), make(chan struct{})
	var sw faultfs.Switch
	q, reopen = faultyQueue(t, &sw)
	sw.Set(onMessageLog(faultfs.InjectorFunc(func(op faultfs.Op, _ string) error {
		if op != faultfs.OpSync {
			return nil
		}
		close(syncing)
		<-release // the message sits written, not durable, until then
		return syscall.ENOSPC
	})))
	failed := make(chan error, 1)
	m := &Message{Exchange: "x", RoutingKey: "k", Properties: []byte{0, 0}, Body: []byte("lost"), Persistent: true}
	q.Enqueue(Encode(nil, m), m, func(err error) { failed <- err })
	<-syncing
	return q, reopen, func() {
		t.Helper()
		sw.Clear()
		close(release)
		if err := <-failed; !errors.Is(err, ErrStorage) {
			t.Fatalf("enqueue: %v, want ErrStorage", err)
		}
	}
}
