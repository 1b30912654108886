package interop

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
)

// TestSarama produces with a synchronous sarama producer (acks=all,
// idempotent) and consumes in a sarama consumer group.
func TestSarama(t *testing.T) {
	l := startLoft(t)
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V2_8_0_0
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Idempotent = true
	cfg.Producer.Return.Successes = true
	cfg.Net.MaxOpenRequests = 1
	cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
	cfg.Consumer.Group.Rebalance.GroupStrategies = []sarama.BalanceStrategy{sarama.NewBalanceStrategyRange()}

	admin, err := sarama.NewClusterAdmin([]string{l.Kafka}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := admin.CreateTopic("sarama-topic", &sarama.TopicDetail{NumPartitions: 2, ReplicationFactor: 1}, false); err != nil {
		t.Fatal(err)
	}
	admin.Close()

	const n = 500
	producer, err := sarama.NewSyncProducer([]string{l.Kafka}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		_, _, err := producer.SendMessage(&sarama.ProducerMessage{
			Topic:   "sarama-topic",
			Key:     sarama.StringEncoder(fmt.Sprint("k", i)),
			Value:   sarama.StringEncoder(fmt.Sprint("v", i)),
			Headers: []sarama.RecordHeader{{Key: []byte("seq"), Value: []byte(fmt.Sprint(i))}},
		})
		if err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
	}
	producer.Close()

	group, err := sarama.NewConsumerGroup([]string{l.Kafka}, "sarama-group", cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer group.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	h := &collector{want: n, seen: map[string]bool{}, done: cancel}
	for ctx.Err() == nil {
		if err := group.Consume(ctx, []string{"sarama-topic"}, h); err != nil && ctx.Err() == nil {
			t.Fatal(err)
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.seen) != n || h.dup > 0 || h.bad != "" {
		t.Fatalf("consumed %d distinct of %d, %d duplicates, %s", len(h.seen), n, h.dup, h.bad)
	}
}

type collector struct {
	mu   sync.Mutex
	want int
	seen map[string]bool
	dup  int
	bad  string
	done func()
}

func (c *collector) Setup(sarama.ConsumerGroupSession) error   { return nil }
func (c *collector) Cleanup(sarama.ConsumerGroupSession) error { return nil }

func (c *collector) ConsumeClaim(s sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	for m := range claim.Messages() {
		c.mu.Lock()
		seq := ""
		for _, h := range m.Headers {
			if string(h.Key) == "seq" {
				seq = string(h.Value)
			}
		}
		if string(m.Key) != "k"+seq || string(m.Value) != "v"+seq {
			c.bad = fmt.Sprintf("message %s arrived as %s=%s", seq, m.Key, m.Value)
		}
		if c.seen[seq] {
			c.dup++
		}
		c.seen[seq] = true
		if len(c.seen) == c.want {
			c.done()
		}
		c.mu.Unlock()
		s.MarkMessage(m, "")
	}
	return nil
}
