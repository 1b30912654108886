package server

// Load for the fault tests (power loss, disk full): real clients driving
// AMQP and Kafka, and a ledger of what the broker told them, against which
// the broker's state is checked after the fault.

import (
	"context"
	"fmt"
	"maps"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// envInt reads a positive integer from the environment, or returns def.
func envInt(t *testing.T, name string, def int) int {
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		t.Fatalf("%s=%q: want a positive integer", name, s)
	}
	return n
}

// ledger is what the clients were told, across every boot of the broker.
type ledger struct {
	mu sync.Mutex
	// AMQP: ids published, confirmed (basic.ack) and refused (basic.nack),
	// and how often each was delivered.
	published, confirmed map[string]bool
	nacked               int
	received             map[string]int
	// Kafka: values produced; for the acknowledged ones, where the broker
	// put them; the group offsets it confirmed committing.
	produced  map[string]bool
	acked     map[int32]map[int64]string
	committed map[int32]int64
	// While full, every write fails: nothing published after the id or
	// value numbered fullFrom may be acknowledged (see ack).
	full     bool
	fullFrom int64
	early    int // acknowledgements of what cannot have been stored
}

// ack checks that the acknowledgement of id (or value) is possible: not
// of something published while the disk is full. lg.mu is held.
func (l *ledger) ack(t *testing.T, id string) {
	if l.full && seqOf(id) > l.fullFrom {
		l.early++
		if l.early <= 5 {
			t.Errorf("%s acknowledged while the disk is full: it was published after the disk filled", id)
		}
	}
}

func newLedger() *ledger {
	return &ledger{
		published: map[string]bool{}, confirmed: map[string]bool{}, received: map[string]int{},
		produced: map[string]bool{}, acked: map[int32]map[int64]string{}, committed: map[int32]int64{},
	}
}

func (l *ledger) locked(f func()) {
	l.mu.Lock()
	defer l.mu.Unlock()
	f()
}

func (l *ledger) counts() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, p := range l.acked {
		n += len(p)
	}
	return fmt.Sprintf("amqp: %d published, %d confirmed, %d nacked, %d received; kafka: %d produced, %d acked",
		len(l.published), len(l.confirmed), l.nacked, len(l.received), len(l.produced), n)
}

// seqOf reads the number in an id or value made by the load ("a00000042").
func seqOf(s string) int64 {
	n, err := strconv.ParseInt(s[1:], 10, 64)
	if err != nil {
		return -1
	}
	return n
}

func dialAMQP(addr string) (*amqp091.Connection, error) {
	return amqp091.DialConfig("amqp://guest:guest@"+addr+"/",
		amqp091.Config{Dial: amqp091.DefaultDial(5 * time.Second)})
}

// publishAMQP publishes persistent messages with confirms to exchange
// under key, at most window unconfirmed, until ctx ends or the connection
// does, and records each outcome. A message the exchange cannot route is
// an error: its binding was lost.
func publishAMQP(ctx context.Context, t *testing.T, addr, exchange, key string, lg *ledger, seq *atomic.Int64) {
	conn, err := dialAMQP(addr)
	if err != nil {
		return // the broker went before this client came
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		return
	}
	if err := ch.Confirm(false); err != nil {
		return
	}
	confirms := ch.NotifyPublish(make(chan amqp091.Confirmation, 256))
	returns := ch.NotifyReturn(make(chan amqp091.Return, 16))
	const window = 64
	var tags []string // by delivery tag - 1
	unsettled := 0
	for {
		for unsettled < window && ctx.Err() == nil {
			id := fmt.Sprintf("a%09d", seq.Add(1))
			lg.locked(func() { lg.published[id] = true })
			err := ch.PublishWithContext(ctx, exchange, key, true, false, amqp091.Publishing{
				DeliveryMode: amqp091.Persistent, MessageId: id, Body: []byte(id),
			})
			if err != nil {
				return
			}
			tags = append(tags, id)
			unsettled++
		}
		select {
		case c, ok := <-confirms:
			if !ok {
				return
			}
			id := tags[c.DeliveryTag-1]
			lg.locked(func() {
				if c.Ack {
					lg.ack(t, id)
					lg.confirmed[id] = true
				} else {
					lg.nacked++
				}
			})
			unsettled--
		case r, ok := <-returns:
			if ok {
				t.Errorf("message %s returned unroutable: the binding %s -> %s was lost", r.MessageId, exchange, key)
			}
		case <-ctx.Done():
			return
		}
	}
}

// consumeAMQP consumes queue with manual acks until ctx ends or the
// connection does, recording each delivery, and checks that one consumer
// sees the queue in publish order: ids only grow within a session.
func consumeAMQP(ctx context.Context, t *testing.T, addr, queue string, lg *ledger) {
	conn, err := dialAMQP(addr)
	if err != nil {
		return
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		return
	}
	if err := ch.Qos(100, 0, false); err != nil {
		return
	}
	dels, err := ch.Consume(queue, "", false, false, false, false, nil)
	if err != nil {
		return
	}
	last := int64(-1)
	for {
		select {
		case d, ok := <-dels:
			if !ok {
				return
			}
			n := seqOf(d.MessageId)
			lg.locked(func() {
				if !lg.published[d.MessageId] {
					t.Errorf("queue %s delivered %q, which was never published", queue, d.MessageId)
				}
				lg.received[d.MessageId]++
			})
			if n <= last {
				t.Errorf("queue %s delivered %s after a%09d to one consumer: out of order", queue, d.MessageId, last)
			}
			last = n
			if d.Ack(false) != nil {
				return
			}
		case <-ctx.Done():
			return
		}
	}
}

// produceKafka produces values with an idempotent producer, acks=all, at
// most 256 in flight, until ctx ends, and records where each acknowledged
// one went. The client retries what fails until ctx ends.
func produceKafka(ctx context.Context, t *testing.T, addr, topic string, lg *ledger, seq *atomic.Int64) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic(topic),
		kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()),
		kgo.ProducerLinger(time.Millisecond), kgo.MetadataMinAge(200*time.Millisecond))
	if err != nil {
		return
	}
	slots := make(chan struct{}, 256)
	var wg sync.WaitGroup
	defer func() {
		cl.Close() // fails what is still buffered, so that wg ends
		wg.Wait()
	}()
	for ctx.Err() == nil {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			return
		}
		v := fmt.Sprintf("k%09d", seq.Add(1))
		lg.locked(func() { lg.produced[v] = true })
		wg.Add(1)
		cl.Produce(ctx, &kgo.Record{Value: []byte(v)}, func(r *kgo.Record, err error) {
			defer wg.Done()
			<-slots
			if err != nil {
				return
			}
			lg.locked(func() {
				lg.ack(t, v)
				if lg.acked[r.Partition] == nil {
					lg.acked[r.Partition] = map[int64]string{}
				}
				lg.acked[r.Partition][r.Offset] = v
			})
		})
	}
}

// consumeKafka consumes topic as a member of group, committing after each
// poll, until ctx ends; it records each commit the broker confirmed, and
// checks that offsets and values only grow in each partition.
func consumeKafka(ctx context.Context, t *testing.T, addr, topic, group string, lg *ledger) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic),
		kgo.DisableAutoCommit(), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(100*time.Millisecond), kgo.RetryTimeout(2*time.Second))
	if err != nil {
		return
	}
	defer func() {
		leave, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		cl.LeaveGroupContext(leave)
		cl.Close()
	}()
	last := map[int32][2]int64{} // partition -> offset, value seq
	for ctx.Err() == nil {
		fs := cl.PollFetches(ctx)
		fs.EachRecord(func(r *kgo.Record) {
			v := string(r.Value)
			lg.locked(func() {
				if !lg.produced[v] {
					t.Errorf("%s/%d@%d holds %q, which was never produced", topic, r.Partition, r.Offset, v)
				}
			})
			if prev, ok := last[r.Partition]; ok && (r.Offset <= prev[0] || seqOf(v) <= prev[1]) {
				t.Errorf("%s/%d: %q at %d after %d at %d: out of order", topic, r.Partition, v, r.Offset, prev[1], prev[0])
			}
			last[r.Partition] = [2]int64{r.Offset, seqOf(v)}
		})
		offsets := cl.UncommittedOffsets()
		if len(offsets) == 0 {
			continue
		}
		if err := cl.CommitUncommittedOffsets(ctx); err != nil {
			continue
		}
		lg.locked(func() {
			for p, eo := range offsets[topic] {
				lg.committed[p] = max(lg.committed[p], eo.Offset)
			}
		})
	}
}

// checkCommitted checks that the group's committed offsets have not gone
// back from those the broker confirmed.
func checkCommitted(ctx context.Context, t *testing.T, addr, topic, group string, lg *ledger) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	got, err := kadm.NewClient(cl).FetchOffsets(ctx, group)
	if err != nil {
		t.Fatalf("fetch offsets of %s: %v", group, err)
	}
	lg.mu.Lock()
	defer lg.mu.Unlock()
	for p, want := range lg.committed {
		o, ok := got.Lookup(topic, p)
		if !ok || o.Err != nil || o.At < want {
			t.Errorf("group %s, %s/%d: committed offset %d (%v), want at least %d, confirmed before", group, topic, p, o.At, o.Err, want)
		}
	}
}

// readKafka reads every partition of topic from its start to its end.
func readKafka(ctx context.Context, t *testing.T, addr, topic string) map[int32][]*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatalf("list end offsets: %v", err)
	}
	want := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) { want[o.Partition] = o.Offset })
	got := map[int32][]*kgo.Record{}
	done := func() bool {
		for p, end := range want {
			rs := got[p]
			if end > 0 && (len(rs) == 0 || rs[len(rs)-1].Offset < end-1) {
				return false
			}
		}
		return true
	}
	for !done() {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("reading %s back: %v (ends %v)", topic, ctx.Err(), want)
		}
		fs.EachError(func(_ string, p int32, err error) { t.Errorf("fetch %s/%d: %v", topic, p, err) })
		fs.EachRecord(func(r *kgo.Record) { got[r.Partition] = append(got[r.Partition], r) })
	}
	return got
}

// checkKafka checks topic against the ledger: every acknowledged value is
// at the offset the broker gave it, and every record was produced.
func checkKafka(ctx context.Context, t *testing.T, addr, topic string, lg *ledger, exactlyOnce bool) {
	t.Helper()
	got := readKafka(ctx, t, addr, topic)
	lg.mu.Lock()
	defer lg.mu.Unlock()
	seen := map[string]int{}
	for p, rs := range got {
		at := map[int64]string{}
		for _, r := range rs {
			v := string(r.Value)
			at[r.Offset] = v
			seen[v]++
			if !lg.produced[v] {
				t.Errorf("%s/%d@%d holds %q, which was never produced", topic, p, r.Offset, v)
			}
		}
		for _, o := range slices.Sorted(maps.Keys(lg.acked[p])) {
			if v := lg.acked[p][o]; at[o] != v {
				t.Errorf("%s/%d@%d: acknowledged %q, found %q", topic, p, o, v, at[o])
			}
		}
	}
	if exactlyOnce {
		for v, n := range seen {
			if n > 1 {
				t.Errorf("%s: %q stored %d times by an idempotent producer", topic, v, n)
			}
		}
	}
}

// drainAMQP consumes queue until every confirmed id has been received at
// least once, bounded by ctx.
func drainAMQP(ctx context.Context, t *testing.T, addr, queue string, lg *ledger) {
	t.Helper()
	sub, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan struct{})
	go func() { defer close(done); consumeAMQP(sub, t, addr, queue, lg) }()
	missing := func() []string {
		lg.mu.Lock()
		defer lg.mu.Unlock()
		var ids []string
		for id := range lg.confirmed {
			if lg.received[id] == 0 {
				ids = append(ids, id)
			}
		}
		slices.Sort(ids)
		return ids
	}
	for {
		m := missing()
		if len(m) == 0 {
			break
		}
		select {
		case <-ctx.Done():
			t.Errorf("queue %s: %d confirmed messages never delivered, first %v", queue, len(m), m[:min(len(m), 5)])
			cancel()
			<-done
			return
		case <-time.After(50 * time.Millisecond):
		}
	}
	cancel()
	<-done
}

// waitAll waits, bounded, for the load goroutines to return.
func waitAll(t *testing.T, wg *sync.WaitGroup, what string) {
	t.Helper()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatalf("%s did not stop within 30s", what)
	}
}

// fresh returns a ledger with lg's AMQP publishes and confirms and nothing
// received, to check a second queue against.
func (l *ledger) fresh() *ledger {
	l.mu.Lock()
	defer l.mu.Unlock()
	f := newLedger()
	f.published, f.confirmed = maps.Clone(l.published), maps.Clone(l.confirmed)
	return f
}
