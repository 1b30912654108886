package server

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/loftmq/loft/internal/fs"
	"github.com/loftmq/loft/internal/fs/faultfs"
	"github.com/loftmq/loft/internal/logstore"
	amqp091 "github.com/rabbitmq/amqp091-go"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestDiskFullUnderLoad fills the disk under AMQP and Kafka load: every
// write (or every sync, or a random 30% of both) in the data dir fails
// with ENOSPC for a while, then the space comes back. Meanwhile
// publishers are refused (basic.nack, KAFKA_STORAGE_ERROR) without losing
// their connections, nothing published after the disk filled is
// acknowledged, declarations fail with a protocol error (and succeed
// once there is room), and the broker stays up; once
// the fault clears, publishing and consuming resume by themselves, every
// message acknowledged before, during or after the episode is readable,
// an idempotent producer's retries store nothing twice, and a power loss
// after the episodes recovers all of it.
//
// LOFT_FAULT_ROUNDS sets the episodes per case (2 by default),
// LOFT_FAULT_SEED the seed of the random case and of the torn power loss.
func TestDiskFullUnderLoad(t *testing.T) {
	episodes := envInt(t, "LOFT_FAULT_ROUNDS", 2)
	seed := uint64(envInt(t, "LOFT_FAULT_SEED", int(time.Now().UnixNano()%1e9)+1))
	t.Logf("seed %d (LOFT_FAULT_SEED=%d to replay), %d episodes", seed, seed, episodes)
	enospc := syscall.ENOSPC
	for _, tt := range []struct {
		name   string
		fault  faultfs.Injector
		random bool
	}{
		{"write", faultfs.OnOp(faultfs.OpWrite, faultfs.Short(enospc)), false},
		{"sync", faultfs.OnOp(faultfs.OpSync, enospc), false},
		// Some writes and syncs fail, others pass: failures land
		// between successes, in every log.
		{"random", faultfs.Random(rand.New(rand.NewPCG(seed, 0xd15c)), 0.3, faultfs.Any(
			faultfs.OnOp(faultfs.OpWrite, faultfs.Short(enospc)),
			faultfs.OnOp(faultfs.OpSync, enospc),
		)), true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			diskFull(t, faultfs.PathContains("/data/", tt.fault), episodes, !tt.random, seed)
		})
	}
}

// diskFull runs the load through episodes of fault; with full, every
// write the fault concerns fails, not some.
func diskFull(t *testing.T, fault faultfs.Injector, episodes int, full bool, seed uint64) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	mem := fs.NewMem()
	power := boot(mem)
	var sw faultfs.Switch
	cfg := faultConfig()
	r := startOn(t, cfg, faultfs.New(power, &sw))
	declareTopology(ctx, t, r)
	amqpAddr, kafkaAddr := r.AMQPAddr().String(), r.KafkaAddr().String()
	lg, seq := newLedger(), &atomic.Int64{}
	raw := createTopic(ctx, t, kafkaAddr, "fault.raw")

	l := startLoad(t, r, lg, seq, true)
	waitFor(ctx, t, "load before the fault", func() bool { return progress(lg) >= 500 })
	for ep := range episodes {
		sw.Set(fault)
		lg.locked(func() { lg.full, lg.fullFrom = full, seq.Load() })
		nacked := nackedOf(lg)
		waitFor(ctx, t, "a basic.nack under the full disk", func() bool { return nackedOf(lg) > nacked })
		time.Sleep(200 * time.Millisecond) // appends keep failing meanwhile
		checkStorageError(ctx, t, kafkaAddr, raw, full)
		name := fmt.Sprintf("fault.new.%d", ep)
		checkDeclareFails(t, amqpAddr, name, full)
		checkCreateTopicFails(ctx, t, kafkaAddr, name, full)
		t.Logf("episode %d, disk full: %s", ep, lg.counts())

		lg.locked(func() { lg.full = false })
		sw.Clear()
		cleared := time.Now()
		lg.mu.Lock()
		before := struct{ confirmed, received, acked int }{len(lg.confirmed), len(lg.received), acked(lg)}
		lg.mu.Unlock()
		waitFor(ctx, t, "publishing and consuming to resume", func() bool {
			lg.mu.Lock()
			defer lg.mu.Unlock()
			return len(lg.confirmed) > before.confirmed+200 && len(lg.received) > before.received+200 &&
				acked(lg) > before.acked+200
		})
		t.Logf("episode %d: resumed %v after the fault cleared", ep, time.Since(cleared))
		checkDeclareWorks(ctx, t, amqpAddr, kafkaAddr, name, full)
	}
	l.stop(t)
	t.Logf("after the faults: %s", lg.counts())

	// Readable without a restart: every acknowledged message.
	checkKafka(ctx, t, kafkaAddr, faultTopic, lg, true)
	drainAMQP(ctx, t, amqpAddr, faultQueue, lg)
	checkCommitted(ctx, t, kafkaAddr, faultTopic, faultGroup, lg)

	// And after a power loss, torn writes and all: the queue nobody
	// consumed still holds every confirmed message.
	power.cut(rand.New(rand.NewPCG(seed, 0x7042)))
	r.stop(t)
	r = startOn(t, cfg, boot(mem))
	checkTopology(ctx, t, r)
	checkKafka(ctx, t, r.KafkaAddr().String(), faultTopic, lg, true)
	drainAMQP(ctx, t, r.AMQPAddr().String(), faultKeep, lg.fresh())
	checkCommitted(ctx, t, r.KafkaAddr().String(), faultTopic, faultGroup, lg)
}

// progress counts what the load has had acknowledged or delivered.
func progress(lg *ledger) int {
	lg.mu.Lock()
	defer lg.mu.Unlock()
	return len(lg.confirmed) + len(lg.received) + acked(lg)
}

// acked counts the Kafka records acknowledged; lg.mu is held.
func acked(lg *ledger) int {
	n := 0
	for _, p := range lg.acked {
		n += len(p)
	}
	return n
}

func nackedOf(lg *ledger) int {
	lg.mu.Lock()
	defer lg.mu.Unlock()
	return lg.nacked
}

// waitFor polls cond until it holds, failing the test when ctx ends.
func waitFor(ctx context.Context, t *testing.T, what string, cond func() bool) {
	t.Helper()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("waiting for %s: %v", what, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// createTopic creates a topic of one partition and returns its id.
func createTopic(ctx context.Context, t *testing.T, addr, name string) [16]byte {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	resp, err := kadm.NewClient(cl).CreateTopic(ctx, 1, 1, nil, name)
	if err != nil || resp.Err != nil {
		t.Fatalf("create topic %s: %v, %v", name, err, resp.Err)
	}
	return resp.ID
}

// checkStorageError sends a produce request to topic (id) on the full
// disk and expects KAFKA_STORAGE_ERROR, or also success unless full. (A
// raw request: franz-go's producer retries that error, as a client
// should.)
func checkStorageError(ctx context.Context, t *testing.T, addr string, id [16]byte, full bool) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	req := kmsg.NewPtrProduceRequest()
	req.Acks = -1
	req.TimeoutMillis = 5000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic, rt.TopicID = "fault.raw", id // by name before v13, by id from it
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Records = logstore.AppendBatch(nil, logstore.BatchOptions{ProducerID: -1},
		[]logstore.Record{{Timestamp: time.Now().UnixMilli(), Value: []byte("x")}})
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	err = kerr.ErrorForCode(resp.Topics[0].Partitions[0].ErrorCode)
	if !errors.Is(err, kerr.KafkaStorageError) && (full || err != nil) {
		t.Errorf("produce to a full disk: %v, want KAFKA_STORAGE_ERROR", err)
	}

	// And as franz-go reports it to a producer told not to retry.
	once, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic("fault.raw"),
		kgo.DisableIdempotentWrite(), kgo.RecordRetries(0))
	if err != nil {
		t.Fatal(err)
	}
	defer once.Close()
	err = once.ProduceSync(ctx, &kgo.Record{Value: []byte("x")}).FirstErr()
	if !errors.Is(err, kerr.KafkaStorageError) && (full || err != nil) {
		t.Errorf("franz-go produce to a full disk: %v, want KAFKA_STORAGE_ERROR", err)
	}
}

// checkDeclareFails declares a durable queue on the full disk: it must
// fail with an AMQP error (or also succeed, unless full), and the broker
// must take a new connection.
func checkDeclareFails(t *testing.T, addr, name string, full bool) {
	t.Helper()
	conn, err := dialAMQP(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	_, err = ch.QueueDeclare(name, true, false, false, false, nil)
	var amqpErr *amqp091.Error
	if !errors.As(err, &amqpErr) && (full || err != nil) {
		t.Errorf("declare on a full disk: %v, want an AMQP error", err)
	}
	again, err := dialAMQP(addr)
	if err != nil {
		t.Fatalf("no new connection after a failed declare: %v", err)
	}
	again.Close()
}

// checkDeclareWorks declares the queue and creates the topic refused on
// the full disk, now that it has room: what the failures left behind
// must not stand in the way. Unless full, the topic may have been created
// already.
func checkDeclareWorks(ctx context.Context, t *testing.T, amqpAddr, kafkaAddr, name string, full bool) {
	t.Helper()
	conn, err := dialAMQP(amqpAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ch.QueueDeclare(name, true, false, false, false, nil); err != nil {
		t.Errorf("declare %s after the disk has room again: %v", name, err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(kafkaAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	resp, err := kadm.NewClient(cl).CreateTopic(ctx, 1, 1, nil, name)
	if err == nil {
		err = resp.Err
	}
	if err != nil && (full || !errors.Is(err, kerr.TopicAlreadyExists)) {
		t.Errorf("create topic %s after the disk has room again: %v", name, err)
	}
}

// checkCreateTopicFails creates a topic on the full disk: it must fail
// with KAFKA_STORAGE_ERROR (or also succeed, unless full).
func checkCreateTopicFails(ctx context.Context, t *testing.T, addr, name string, full bool) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	resp, err := kadm.NewClient(cl).CreateTopic(ctx, 1, 1, nil, name)
	if err == nil {
		err = resp.Err
	}
	if !errors.Is(err, kerr.KafkaStorageError) && (full || err != nil) {
		t.Errorf("create topic on a full disk: %v, want KAFKA_STORAGE_ERROR", err)
	}
}
