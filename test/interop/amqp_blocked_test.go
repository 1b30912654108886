package interop

import (
	"context"
	"errors"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/loftmq/loft/internal/loftproc"
	"github.com/loftmq/loft/internal/logstore"
)

// TestAMQPDiskAlarmBlocksPublishers starts the broker with a free-disk
// limit no disk meets: a publisher is told connection.blocked ("low on
// disk") and its message is not taken, while declaring still works.
func TestAMQPDiskAlarmBlocksPublishers(t *testing.T) {
	p := loftproc.Start(t, loftBin, filepath.Join(t.TempDir(), "data"), "--disk-free-limit", "1000PB")
	conn, err := dialAMQP(p.AMQP)
	if err != nil {
		t.Fatal(err)
	}
	// A blocked connection is not read from, so Close would wait for a
	// close-ok that cannot come before the alarm clears: bound it.
	defer conn.CloseDeadline(time.Now().Add(time.Second))
	blocked := conn.NotifyBlocked(make(chan amqp.Blocking, 1))
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ch.QueueDeclare("blocked", false, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	if err := ch.Confirm(false); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	dc, err := ch.PublishWithDeferredConfirmWithContext(ctx, "", "blocked", false, false, amqp.Publishing{Body: []byte("x")})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case b := <-blocked:
		if !b.Active || b.Reason != "low on disk" {
			t.Fatalf("blocking = %+v, want active, low on disk", b)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no connection.blocked within 5 s")
	}
	select {
	case <-dc.Done():
		t.Fatal("a publish was confirmed while publishers are blocked")
	case <-time.After(300 * time.Millisecond):
	}
	if !strings.Contains(p.Log(), "publishers blocked") {
		t.Errorf("the broker's log does not say why publishers are blocked:\n%s", p.Log())
	}
	// Health checks say so too.
	resp, err := http.Get("http://" + p.HTTP + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("/readyz under a disk alarm: %d, want 503", resp.StatusCode)
	}
	var check map[string]any
	if code := apiAs(t, p, "guest", "guest", "GET", "/api/health/checks/alarms", "", &check); code != http.StatusServiceUnavailable || check["status"] != "failed" {
		t.Errorf("alarms check under a disk alarm: %d %v", code, check)
	}
}

// TestKafkaDiskAlarmRefusesProduce: with free disk below the limit, a
// produce request gets KAFKA_STORAGE_ERROR instead of being written, and
// the broker says why in its log. (A raw request: franz-go's producer
// retries the error until its context ends, as a client should.)
func TestKafkaDiskAlarmRefusesProduce(t *testing.T) {
	p := loftproc.Start(t, loftBin, filepath.Join(t.TempDir(), "data"), "--disk-free-limit", "1000PB")
	cl, err := kgo.NewClient(kgo.SeedBrokers(p.Kafka))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	created, err := kadm.NewClient(cl).CreateTopic(ctx, 1, 1, nil, "full")
	if err != nil {
		t.Fatal(err)
	}
	req := kmsg.NewPtrProduceRequest()
	req.Acks = -1
	req.TimeoutMillis = 5000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic, rt.TopicID = "full", created.ID // by name before v13, by id from it
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Records = logstore.AppendBatch(nil, logstore.BatchOptions{ProducerID: -1},
		[]logstore.Record{{Timestamp: time.Now().UnixMilli(), Value: []byte("x")}})
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	code := resp.Topics[0].Partitions[0].ErrorCode
	if err := kerr.ErrorForCode(code); !errors.Is(err, kerr.KafkaStorageError) {
		t.Fatalf("produce under a disk alarm: %v, want KAFKA_STORAGE_ERROR", err)
	}
	if !strings.Contains(p.Log(), "refusing produce requests") {
		t.Errorf("the log does not say why produce is refused:\n%s", p.Log())
	}
}
