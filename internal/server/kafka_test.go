package server

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestKafkaListener runs the whole server with its Kafka listener, produces
// through it with a real client, restarts the server on the same data
// directory and consumes the records back as a group member.
func TestKafkaListener(t *testing.T) {
	cfg := testConfig(t)
	cfg.KafkaAddr = "127.0.0.1:0"
	cfg.KafkaDefaultPartitions = 3
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	r := start(t, cfg)
	addr := r.KafkaAddr().String()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic("orders"), kgo.AllowAutoTopicCreation())
	if err != nil {
		t.Fatal(err)
	}
	var recs []*kgo.Record
	for i := range 30 {
		recs = append(recs, &kgo.Record{Key: []byte(strconv.Itoa(i)), Value: []byte("v" + strconv.Itoa(i))})
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
	meta, err := kadm.NewClient(cl).BrokerMetadata(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := meta.Brokers[0].Host + ":" + strconv.Itoa(int(meta.Brokers[0].Port)); got != addr {
		t.Errorf("advertised %s, want %s", got, addr)
	}
	cl.Close()
	if err := r.stop(t); err != nil {
		t.Fatalf("stop: %v", err)
	}

	cfg.KafkaAddr = addr // the same port again: clients keep their seed
	r = start(t, cfg)
	cons, err := kgo.NewClient(kgo.SeedBrokers(r.KafkaAddr().String()), kgo.ConsumerGroup("billing"),
		kgo.ConsumeTopics("orders"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	got := map[string]string{}
	for len(got) < len(recs) {
		fs := cons.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %d of %d records before the timeout", len(got), len(recs))
		}
		fs.EachError(func(topic string, p int32, err error) { t.Fatalf("fetch %s/%d: %v", topic, p, err) })
		fs.EachRecord(func(r *kgo.Record) { got[string(r.Key)] = string(r.Value) })
	}
	for i := range 30 {
		if v := got[strconv.Itoa(i)]; v != "v"+strconv.Itoa(i) {
			t.Errorf("key %d: %q", i, v)
		}
	}
}
