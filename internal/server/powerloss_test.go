package server

import (
	"context"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/loftmq/loft/internal/config"
	"github.com/loftmq/loft/internal/fs"
	amqp091 "github.com/rabbitmq/amqp091-go"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// The topology the fault tests declare, durably, before any fault.
const (
	faultExchange   = "fault.x"
	faultKey        = "k"
	faultQueue      = "fault.q"    // consumed while the load runs
	faultKeep       = "fault.keep" // bound beside faultQueue, never consumed
	faultTopic      = "fault.t"
	faultPartitions = 3
	faultGroup      = "fault.g"
)

// faultConfig is a server on loopback with no HTTP listener and no
// resource alarms (they measure the host's disk, not the test's).
func faultConfig() config.Config {
	cfg := config.Default()
	cfg.DataDir = "/data"
	cfg.HTTPAddr = ""
	cfg.AMQPAddr, cfg.KafkaAddr = "127.0.0.1:0", "127.0.0.1:0"
	cfg.DiskFreeLimit, cfg.MemoryHighWatermark = 0, 0
	return cfg
}

// declareTopology declares the fault tests' exchange, queues, bindings
// and topic, durably.
func declareTopology(ctx context.Context, t *testing.T, r *running) {
	t.Helper()
	conn, err := dialAMQP(r.AMQPAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	if err := ch.ExchangeDeclare(faultExchange, "direct", true, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{faultQueue, faultKeep} {
		if _, err := ch.QueueDeclare(q, true, false, false, false, nil); err != nil {
			t.Fatal(err)
		}
		if err := ch.QueueBind(q, faultKey, faultExchange, false, nil); err != nil {
			t.Fatal(err)
		}
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(r.KafkaAddr().String()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	resp, err := kadm.NewClient(cl).CreateTopic(ctx, faultPartitions, 1, nil, faultTopic)
	if err != nil || resp.Err != nil {
		t.Fatalf("create topic: %v, %v", err, resp.Err)
	}
}

// checkTopology checks that what declareTopology declared is there. The
// bindings are checked by the load itself: its publishes are mandatory.
func checkTopology(ctx context.Context, t *testing.T, r *running) {
	t.Helper()
	conn, err := dialAMQP(r.AMQPAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, check := range []func(ch *amqp091.Channel) error{
		func(ch *amqp091.Channel) error {
			return ch.ExchangeDeclarePassive(faultExchange, "direct", true, false, false, false, nil)
		},
		func(ch *amqp091.Channel) error {
			_, err := ch.QueueDeclarePassive(faultQueue, true, false, false, false, nil)
			return err
		},
		func(ch *amqp091.Channel) error {
			_, err := ch.QueueDeclarePassive(faultKeep, true, false, false, false, nil)
			return err
		},
	} {
		ch, err := conn.Channel()
		if err != nil {
			t.Fatal(err)
		}
		if err := check(ch); err != nil {
			t.Fatalf("durable topology lost: %v", err)
		}
		ch.Close()
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(r.KafkaAddr().String()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	topics, err := kadm.NewClient(cl).ListTopics(ctx, faultTopic)
	if err != nil {
		t.Fatal(err)
	}
	if d, ok := topics[faultTopic]; !ok || d.Err != nil || len(d.Partitions) != faultPartitions {
		t.Fatalf("topic %s after the crash: %+v", faultTopic, d)
	}
}

// load runs one publisher, one consumer, one producer and one group
// member against r until stop is called.
type load struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func startLoad(t *testing.T, r *running, lg *ledger, seq *atomic.Int64, consume bool) *load {
	ctx, cancel := context.WithCancel(context.Background())
	l := &load{cancel: cancel}
	amqpAddr, kafkaAddr := r.AMQPAddr().String(), r.KafkaAddr().String()
	run := func(f func()) {
		l.wg.Add(1)
		go func() { defer l.wg.Done(); f() }()
	}
	run(func() { publishAMQP(ctx, t, amqpAddr, faultExchange, faultKey, lg, seq) })
	run(func() { produceKafka(ctx, t, kafkaAddr, faultTopic, lg, seq) })
	if consume {
		run(func() { consumeAMQP(ctx, t, amqpAddr, faultQueue, lg) })
		run(func() { consumeKafka(ctx, t, kafkaAddr, faultTopic, faultGroup, lg) })
	}
	return l
}

func (l *load) stop(t *testing.T) {
	t.Helper()
	l.cancel()
	waitAll(t, &l.wg, "the load")
}

// TestPowerLossUnderLoad cuts the power of a broker under AMQP and Kafka
// load at random moments, each round a Crash or a CrashTorn of its
// in-memory disk, starts a new broker on what the disk kept, and checks
// what every client was told: every confirmed AMQP message and every
// acknowledged Kafka record is still there, nothing never published
// appears, one consumer sees each queue and partition in order, committed
// group offsets never go back, and the durable topology survives.
//
// LOFT_FAULT_ROUNDS sets the rounds (3 by default), LOFT_FAULT_SEED the seed.
func TestPowerLossUnderLoad(t *testing.T) {
	rounds := envInt(t, "LOFT_FAULT_ROUNDS", 3)
	seed := uint64(envInt(t, "LOFT_FAULT_SEED", int(time.Now().UnixNano()%1e9)+1))
	t.Logf("seed %d (LOFT_FAULT_SEED=%d to replay), %d rounds", seed, seed, rounds)
	rng := rand.New(rand.NewPCG(seed, 0x9041))
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(rounds)*30*time.Second+time.Minute)
	defer cancel()

	mem := fs.NewMem()
	cfg := faultConfig()
	power := boot(mem)
	r := startOn(t, cfg, power)
	declareTopology(ctx, t, r)
	lg, seq := newLedger(), &atomic.Int64{}

	for round := range rounds {
		l := startLoad(t, r, lg, seq, true)
		time.Sleep(time.Duration(100+rng.IntN(600)) * time.Millisecond)
		torn := rng.IntN(2) == 0
		if torn {
			power.cut(rand.New(rand.NewPCG(seed, uint64(round))))
		} else {
			power.cut(nil)
		}
		// The old broker lives on with a dead disk: it must stop, bounded,
		// without a panic; what it reports is of no interest.
		begin := time.Now()
		err := r.stop(t)
		stopped := time.Since(begin)
		l.stop(t)
		t.Logf("round %d: power cut (torn %v); old broker stopped in %v: %v; load in %v; %s",
			round, torn, stopped, err, time.Since(begin), lg.counts())

		begin = time.Now()
		power = boot(mem)
		r = startOn(t, cfg, power)
		t.Logf("round %d: new broker ready in %v", round, time.Since(begin))
		checkTopology(ctx, t, r)
		checkCommitted(ctx, t, r.KafkaAddr().String(), faultTopic, faultGroup, lg)
		if t.Failed() {
			return
		}
	}
	drainAMQP(ctx, t, r.AMQPAddr().String(), faultKeep, lg.fresh())
	drainAMQP(ctx, t, r.AMQPAddr().String(), faultQueue, lg)
	checkKafka(ctx, t, r.KafkaAddr().String(), faultTopic, lg, false)
	lg.mu.Lock()
	defer lg.mu.Unlock()
	if len(lg.confirmed) == 0 || len(lg.acked) == 0 {
		t.Errorf("the load had nothing acknowledged to check: %d confirmed, %d partitions acked", len(lg.confirmed), len(lg.acked))
	}
}
