package interop

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"reflect"
	"strconv"
	"testing"
	"time"
)

// pythonWithPika returns a Python that can import pika. Debian's
// python3-pika installs into /usr/bin/python3, which need not be the
// python3 first on PATH (pyenv, a virtualenv), so both are tried.
func pythonWithPika(t *testing.T) string {
	t.Helper()
	var tried []string
	for _, name := range []string{"python3", "/usr/bin/python3"} {
		py, err := exec.LookPath(name)
		if err != nil {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err = exec.CommandContext(ctx, py, "-c", "import pika").Run()
		cancel()
		if err == nil {
			return py
		}
		tried = append(tried, py)
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("no python3 can import pika (tried %v); .ci/run must install python3-pika", tried)
	}
	t.Skipf("no python3 can import pika (tried %v)", tried)
	return ""
}

// pikaResult is what testdata/pika_roundtrip.py prints.
type pikaResult struct {
	DeclaredCount int `json:"declared_count"`
	AfterPublish  int `json:"after_publish"`
	AfterConsume  int `json:"after_consume"`
	Messages      []struct {
		Body          string         `json:"body"` // hex
		Redelivered   bool           `json:"redelivered"`
		RoutingKey    string         `json:"routing_key"`
		DeliveryMode  int            `json:"delivery_mode"`
		ContentType   string         `json:"content_type"`
		MessageID     string         `json:"message_id"`
		CorrelationID string         `json:"correlation_id"`
		Headers       map[string]any `json:"headers"`
	} `json:"messages"`
}

// TestPika publishes 200 confirmed persistent messages with properties to
// a durable queue with pika's BlockingConnection, consumes them with
// manual acks and prefetch 50, and checks that all come back in order with
// their properties.
func TestPika(t *testing.T) {
	py := pythonWithPika(t)
	l := startLoft(t)
	_, port, err := net.SplitHostPort(l.AMQP)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	const n, queue = 200, "pika-queue"
	cmd := exec.CommandContext(ctx, py, "testdata/pika_roundtrip.py", port, queue, strconv.Itoa(n))
	cmd.WaitDelay = 2 * time.Second
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("pika_roundtrip.py: %v\nstdout:\n%s\nstderr:\n%s", err, out.String(), errb.String())
	}
	var res pikaResult
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatalf("pika_roundtrip.py printed %q: %v\nstderr:\n%s", out.String(), err, errb.String())
	}

	if res.DeclaredCount != 0 || res.AfterPublish != n || res.AfterConsume != 0 {
		t.Errorf("queue.declare message counts: %d on declare, %d after publishing, %d after consuming; want 0, %d, 0",
			res.DeclaredCount, res.AfterPublish, res.AfterConsume, n)
	}
	if len(res.Messages) != n {
		t.Fatalf("consumed %d messages, want %d", len(res.Messages), n)
	}
	for i, m := range res.Messages {
		want := append(fmt.Appendf(nil, "pika-%04d-", i), byte(i%256))
		if body, err := hex.DecodeString(m.Body); err != nil || !bytes.Equal(body, want) {
			t.Fatalf("message %d has body %q (hex %s), want %q", i, body, m.Body, want)
		}
		wantHeaders := map[string]any{"source": "pika", "seq": float64(i)} // JSON numbers
		switch {
		case m.Redelivered:
			t.Errorf("message %d is marked redelivered", i)
		case m.RoutingKey != queue:
			t.Errorf("message %d has routing key %q, want %q", i, m.RoutingKey, queue)
		case m.DeliveryMode != 2:
			t.Errorf("message %d has delivery mode %d, want 2 (persistent)", i, m.DeliveryMode)
		case m.ContentType != "application/octet-stream":
			t.Errorf("message %d has content type %q", i, m.ContentType)
		case m.MessageID != fmt.Sprintf("msg-%d", i):
			t.Errorf("message %d has message id %q", i, m.MessageID)
		case m.CorrelationID != fmt.Sprintf("corr-%d", i*7):
			t.Errorf("message %d has correlation id %q", i, m.CorrelationID)
		case !reflect.DeepEqual(m.Headers, wantHeaders):
			t.Errorf("message %d has headers %v, want %v", i, m.Headers, wantHeaders)
		}
	}
}
