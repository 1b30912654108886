package embedded_test

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/loftmq/loft/embedded"
)

// TestServesEveryProtocol: one embedded broker answers an AMQP client, a
// Kafka client and the HTTP API.
func TestServesEveryProtocol(t *testing.T) {
	b := embedded.Start(t, embedded.WithoutFsync())
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	conn, err := amqp.Dial(b.AMQPURL())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ch.QueueDeclare("q", true, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	if err := ch.PublishWithContext(ctx, "", "q", false, false, amqp.Publishing{Body: []byte("over amqp")}); err != nil {
		t.Fatal(err)
	}
	if got := getOne(t, ch, "q"); got != "over amqp" {
		t.Fatalf("AMQP got %q", got)
	}

	kc, err := kgo.NewClient(kgo.SeedBrokers(b.KafkaAddr()), kgo.ConsumeTopics("t"), kgo.AllowAutoTopicCreation(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer kc.Close()
	if err := kc.ProduceSync(ctx, &kgo.Record{Topic: "t", Value: []byte("over kafka")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	fetches := kc.PollRecords(ctx, 1)
	if err := fetches.Err(); err != nil {
		t.Fatal(err)
	}
	if recs := fetches.Records(); len(recs) != 1 || string(recs[0].Value) != "over kafka" {
		t.Fatalf("Kafka got %v", recs)
	}

	req, _ := http.NewRequestWithContext(ctx, "GET", b.HTTPURL()+"/api/overview", nil)
	req.SetBasicAuth("guest", "guest")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /api/overview: %s", resp.Status)
	}
}

// TestDataDirOutlivesBroker: with WithDataDir, a persistent message on a
// durable queue is there for the next broker on the same dir; without it,
// Close removes the temporary data dir.
func TestDataDirOutlivesBroker(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	first, err := embedded.Run(context.Background(), embedded.WithDataDir(dir))
	if err != nil {
		t.Fatal(err)
	}
	conn, err := amqp.Dial(first.AMQPURL())
	if err != nil {
		t.Fatal(err)
	}
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ch.QueueDeclare("kept", true, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	if err := ch.Confirm(false); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	dc, err := ch.PublishWithDeferredConfirmWithContext(ctx, "", "kept", false, false,
		amqp.Publishing{DeliveryMode: amqp.Persistent, Body: []byte("kept")})
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := dc.WaitContext(ctx); !ok || err != nil {
		t.Fatalf("confirm: %v %v", ok, err)
	}
	conn.Close()
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	if err := first.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}

	second := embedded.Start(t, embedded.WithDataDir(dir))
	conn, err = amqp.Dial(second.AMQPURL())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ch, err = conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	if got := getOne(t, ch, "kept"); got != "kept" {
		t.Fatalf("after restart got %q", got)
	}

	temp := embedded.Start(t)
	tempDir := temp.DataDir()
	if err := temp.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(tempDir); !os.IsNotExist(err) {
		t.Fatalf("temporary data dir %s still there after Close (%v)", tempDir, err)
	}
}

// getOne fetches one message from queue q, waiting a little for it.
func getOne(t *testing.T, ch *amqp.Channel, q string) string {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		d, ok, err := ch.Get(q, true)
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			return string(d.Body)
		}
	}
	t.Fatalf("no message in %s", q)
	return ""
}
