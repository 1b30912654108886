package interop

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/loftmq/loft/internal/loftproc"
)

// TestRestartTime fills a data dir across 1,000 logs, 500 Kafka
// partitions (5 topics of 100) and 500 durable queues, half the bytes
// each: 256 MiB in CI, 10 GiB with LOFT_FAULT_HEAVY=1. It then kills the
// broker with SIGKILL, starts it again, stops it with SIGTERM and starts
// it again; after each start it measures the time from the process's
// start to /readyz answering 200, and to the first successful fetch of
// the last record of the last partition and basic.get from the last
// queue (the figures are logged). Each restart serves everything again,
// and the last records read back are the ones written.
func TestRestartTime(t *testing.T) {
	if testing.Short() {
		t.Skip("filling a data dir takes a while")
	}
	const topics, partitions, queues = 5, 100, 500
	const recordSize, messageSize = 16 << 10, 64 << 10
	total := int64(256 << 20)
	if heavy() {
		total = 10 << 30
	}
	dir := filepath.Join(t.TempDir(), "data")
	t.Cleanup(func() { os.RemoveAll(dir) })
	p := loftproc.Start(t, loftBin, dir, "--log-level", "warn")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()

	began := time.Now()
	topicName := func(i int) string { return "restart" + strconv.Itoa(i) }
	queueName := func(i int) string { return "restart" + strconv.Itoa(i) }
	lastRecords := fillPartitions(ctx, t, p, topics, partitions, recordSize, total/2, topicName)
	lastMessages := fillQueues(ctx, t, p, queues, messageSize, total/2, queueName)
	t.Logf("wrote %d MiB into %d partitions and %d queues in %v", total>>20, topics*partitions, queues,
		time.Since(began).Round(time.Millisecond))

	lastTopic, lastPartition := topicName(topics-1), int32(partitions-1)
	lastQueue := queueName(queues - 1)
	restart := func(how string) *loftproc.Process {
		t.Helper()
		start := time.Now()
		p := loftproc.Start(t, loftBin, dir)
		ready := time.Since(start)
		// The broker's own timings of each startup step.
		for _, line := range strings.Split(p.Log(), "\n") {
			if strings.Contains(line, "took=") {
				t.Log(line)
			}
		}
		want := lastRecords[lastPartitionKey(lastTopic, lastPartition)]
		fetchLast(ctx, t, p, lastTopic, lastPartition, want)
		fetched := time.Since(start)
		getFirst(t, p, lastQueue, lastMessages[queues-1])
		got := time.Since(start)
		t.Logf("after %s: ready in %v, last record fetched at %v, first message of the last queue got at %v",
			how, ready.Round(time.Millisecond), fetched.Round(time.Millisecond), got.Round(time.Millisecond))
		return p
	}
	p.Kill()
	p = restart("SIGKILL")
	if took, err := p.Terminate(15 * time.Second); err != nil {
		t.Fatalf("SIGTERM: %v after %v\n%s", err, took, p.Log())
	}
	p = restart("SIGTERM")
	// Everything is still there: each partition's end is where the writes
	// left it.
	checkEnds(ctx, t, p, lastRecords)
}

// noise is incompressible bytes for record values and message bodies, so
// that what is written is what lands on disk.
var noise = func() []byte {
	b := make([]byte, 1<<20)
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i+8 <= len(b); i += 8 {
		binary.LittleEndian.PutUint64(b[i:], r.Uint64())
	}
	return b
}()

func lastPartitionKey(topic string, partition int32) string {
	return topic + "/" + strconv.Itoa(int(partition))
}

// fillPartitions creates the topics and produces records of size bytes
// round-robin over every partition from four goroutines until bytes are
// written; it returns each partition's last offset.
func fillPartitions(ctx context.Context, t *testing.T, p *loftproc.Process, topics, partitions, size int, bytes int64, name func(int) string) map[string]int64 {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(p.Kafka), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerLinger(5*time.Millisecond), kgo.MaxBufferedBytes(256<<20),
		kgo.ProducerBatchCompression(kgo.NoCompression()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	for i := range topics {
		created, err := adm.CreateTopic(ctx, int32(partitions), 1, nil, name(i))
		if err == nil {
			err = created.Err
		}
		if err != nil {
			t.Fatalf("create %s: %v", name(i), err)
		}
	}
	n := int(bytes / int64(size))
	const workers = 4
	var mu sync.Mutex
	last := make(map[string]int64, topics*partitions)
	var failed atomic.Pointer[error]
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; i < n; i += workers {
				part := i % (topics * partitions)
				value := make([]byte, size)
				copy(value, noise)
				binary.BigEndian.PutUint64(value, uint64(i))
				r := &kgo.Record{Topic: name(part / partitions), Partition: int32(part % partitions), Value: value}
				cl.Produce(ctx, r, func(r *kgo.Record, err error) {
					if err != nil {
						failed.CompareAndSwap(nil, &err)
						return
					}
					key := lastPartitionKey(r.Topic, r.Partition)
					mu.Lock()
					last[key] = max(last[key], r.Offset)
					mu.Unlock()
				})
			}
		})
	}
	wg.Wait()
	if err := cl.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if errp := failed.Load(); errp != nil {
		t.Fatal(*errp)
	}
	return last
}

// fillQueues declares the queues and publishes persistent messages of size
// bytes round-robin over them, with confirms, from four channels until
// bytes are written; it returns the number of each queue's first message.
func fillQueues(ctx context.Context, t *testing.T, p *loftproc.Process, queues, size int, bytes int64, name func(int) string) []uint64 {
	t.Helper()
	admin := amqpChannel(t, p.AMQP)
	for q := range queues {
		if _, err := admin.QueueDeclare(name(q), true, false, false, false, nil); err != nil {
			t.Fatal(err)
		}
	}
	n := int(bytes / int64(size))
	first := make([]uint64, queues)
	for q := range first {
		first[q] = uint64(q) // message q goes first to queue q
	}
	const workers = 4
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			errs <- publishSpread(ctx, p.AMQP, w, workers, n, queues, size, name)
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	return first
}

// publishSpread publishes messages w, w+workers, ... below n, message i
// to queue i%queues, its number in its first bytes, and waits for every
// confirm. Messages for one queue come from one channel, in order, since
// i%queues fixes i%workers when workers divides queues.
func publishSpread(ctx context.Context, addr string, w, workers, n, queues, size int, name func(int) string) error {
	conn, err := dialAMQP(addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		return err
	}
	if err := ch.Confirm(false); err != nil {
		return err
	}
	const window = 256
	confirms := ch.NotifyPublish(make(chan amqp.Confirmation, window))
	pending := 0
	settle := func() error {
		select {
		case c, ok := <-confirms:
			if !ok || !c.Ack {
				return fmt.Errorf("publisher %d: publish not confirmed", w)
			}
			pending--
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	body := make([]byte, size)
	copy(body, noise)
	for i := w; i < n; i += workers {
		for pending >= window {
			if err := settle(); err != nil {
				return err
			}
		}
		binary.BigEndian.PutUint64(body, uint64(i))
		if err := ch.PublishWithContext(ctx, "", name(i%queues), false, false,
			amqp.Publishing{DeliveryMode: amqp.Persistent, Body: body}); err != nil {
			return err
		}
		pending++
	}
	for pending > 0 {
		if err := settle(); err != nil {
			return err
		}
	}
	return nil
}

// fetchLast fetches offset want of one partition, retrying until it
// comes.
func fetchLast(ctx context.Context, t *testing.T, p *loftproc.Process, topic string, partition int32, want int64) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(p.Kafka), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{
		topic: {partition: kgo.NewOffset().At(want)},
	}))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("offset %d of %s/%d never came: %v", want, topic, partition, err)
		}
		var got *kgo.Record
		fs.EachRecord(func(r *kgo.Record) {
			if r.Offset == want {
				got = r
			}
		})
		if got != nil {
			return
		}
	}
}

// getFirst gets the next message of a queue, which must be message want,
// and returns it to the queue.
func getFirst(t *testing.T, p *loftproc.Process, queue string, want uint64) {
	t.Helper()
	ch := amqpChannel(t, p.AMQP)
	d, ok, err := ch.Get(queue, false)
	if err != nil || !ok {
		t.Fatalf("get from %s: %v %v", queue, ok, err)
	}
	if got := binary.BigEndian.Uint64(d.Body); got != want {
		t.Fatalf("%s's first message is %d, want %d", queue, got, want)
	}
	if err := d.Nack(false, true); err != nil {
		t.Fatal(err)
	}
}

// checkEnds checks that every partition ends just after the last offset
// written to it.
func checkEnds(ctx context.Context, t *testing.T, p *loftproc.Process, last map[string]int64) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(p.Kafka))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, kadmTopics(last)...)
	if err != nil {
		t.Fatal(err)
	}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Err != nil {
			t.Errorf("%s/%d: %v", o.Topic, o.Partition, o.Err)
			return
		}
		if want, ok := last[lastPartitionKey(o.Topic, o.Partition)]; ok && o.Offset != want+1 {
			t.Errorf("%s/%d ends at %d after a restart, want %d", o.Topic, o.Partition, o.Offset, want+1)
		}
	})
}

// kadmTopics lists the topics named in keys of lastPartitionKey's form.
func kadmTopics(last map[string]int64) []string {
	seen := make(map[string]bool)
	var out []string
	for key := range last {
		for i := len(key) - 1; i >= 0; i-- {
			if key[i] == '/' {
				if !seen[key[:i]] {
					seen[key[:i]] = true
					out = append(out, key[:i])
				}
				break
			}
		}
	}
	return out
}
