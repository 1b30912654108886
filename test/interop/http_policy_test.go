package interop

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/loftmq/loft/internal/loftproc"
)

// api sends one request to Loft's HTTP API as guest and returns the status
// and body.
func api(t *testing.T, p *loftproc.Process, method, path, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+p.HTTP+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth("guest", "guest")
	req.Header.Set("Content-Type", "application/json")
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestPoliciesOverHTTP: a policy set through RabbitMQ's HTTP API applies
// at once to the queues its pattern matches, merges with their arguments
// as RabbitMQ merges them (the lower length limit wins; arguments win for
// the rest), survives a SIGKILL, and stops applying when deleted.
func TestPoliciesOverHTTP(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	p := loftproc.Start(t, loftBin, dir)
	ch := amqpChannel(t, p.AMQP)
	for name, args := range map[string]amqp.Table{
		"orders.in": nil, "orders.small": {"x-max-length": int32(2)}, "other": nil, "overflow": nil,
	} {
		if _, err := ch.QueueDeclare(name, true, false, false, false, args); err != nil {
			t.Fatal(err)
		}
	}
	if err := ch.Confirm(false); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	publish := func(ch *amqp.Channel, queue string, n int) {
		t.Helper()
		for i := range n {
			dc, err := ch.PublishWithDeferredConfirmWithContext(ctx, "", queue, false, false,
				amqp.Publishing{DeliveryMode: amqp.Persistent, Body: []byte(fmt.Sprint(queue, " ", i))})
			if err != nil {
				t.Fatal(err)
			}
			if ok, err := dc.WaitContext(ctx); !ok || err != nil {
				t.Fatalf("confirm: %v %v", ok, err)
			}
		}
	}
	ready := func(ch *amqp.Channel, queue string) int {
		t.Helper()
		q, err := ch.QueueDeclarePassive(queue, true, false, false, false, nil)
		if err != nil {
			t.Fatal(err)
		}
		return q.Messages
	}
	eventually := func(ch *amqp.Channel, queue string, want int) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); ready(ch, queue) != want; time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s holds %d, want %d", queue, ready(ch, queue), want)
			}
		}
	}

	policy := `{"pattern":"^orders\\.","apply-to":"queues","priority":1,
		"definition":{"max-length":3,"dead-letter-exchange":"","dead-letter-routing-key":"overflow"}}`
	if code, body := api(t, p, "PUT", "/api/policies/%2F/limits", policy); code != http.StatusCreated {
		t.Fatalf("PUT policy: %d %s", code, body)
	}
	for _, q := range []string{"orders.in", "orders.small", "other"} {
		publish(ch, q, 5)
	}
	eventually(ch, "orders.in", 3)
	eventually(ch, "orders.small", 2) // its own argument is lower
	eventually(ch, "other", 5)
	eventually(ch, "overflow", 2+3) // dropped heads, dead-lettered
	code, body := api(t, p, "GET", "/api/queues/%2F/orders.in", "")
	var q struct {
		Policy string         `json:"policy"`
		Def    map[string]any `json:"effective_policy_definition"`
		Ready  int            `json:"messages_ready"`
	}
	if code != http.StatusOK || json.Unmarshal([]byte(body), &q) != nil || q.Policy != "limits" || q.Def["max-length"] != 3.0 || q.Ready != 3 {
		t.Fatalf("GET queue: %d %s", code, body)
	}

	// Tightened: applied at once to what is there.
	policy = strings.Replace(policy, `"max-length":3`, `"max-length":1`, 1)
	if code, body := api(t, p, "PUT", "/api/policies/%2F/limits", policy); code != http.StatusNoContent {
		t.Fatalf("PUT policy again: %d %s", code, body)
	}
	eventually(ch, "orders.in", 1)

	p.Kill()
	p = loftproc.Start(t, loftBin, dir)
	ch = amqpChannel(t, p.AMQP)
	if err := ch.Confirm(false); err != nil {
		t.Fatal(err)
	}
	if code, body := api(t, p, "GET", "/api/policies/%2F", ""); code != http.StatusOK || !strings.Contains(body, `"limits"`) {
		t.Fatalf("GET policies after the restart: %d %s", code, body)
	}
	publish(ch, "orders.in", 2)
	eventually(ch, "orders.in", 1)

	if code, body := api(t, p, "DELETE", "/api/policies/%2F/limits", ""); code != http.StatusNoContent {
		t.Fatalf("DELETE policy: %d %s", code, body)
	}
	publish(ch, "orders.in", 2)
	eventually(ch, "orders.in", 3)

	// An exchange policy: unroutable messages go to its alternate exchange.
	if err := ch.ExchangeDeclare("shop", "direct", true, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	if err := ch.ExchangeDeclare("lost", "fanout", true, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	if err := ch.QueueBind("other", "", "lost", false, nil); err != nil {
		t.Fatal(err)
	}
	if code, body := api(t, p, "PUT", "/api/policies/%2F/ae", `{"pattern":"^shop$","apply-to":"exchanges","definition":{"alternate-exchange":"lost"}}`); code != http.StatusCreated {
		t.Fatalf("PUT exchange policy: %d %s", code, body)
	}
	before := ready(ch, "other")
	if err := ch.PublishWithContext(ctx, "shop", "nowhere", false, false, amqp.Publishing{Body: []byte("unroutable")}); err != nil {
		t.Fatal(err)
	}
	eventually(ch, "other", before+1)

	// Mistakes get a 4xx with a JSON reason, never a 500.
	for _, c := range []struct {
		method, path, body string
		want               int
	}{
		{"PUT", "/api/policies/%2F/bad", `{"pattern":".*","definition":{"no-such-key":1}}`, 400},
		{"PUT", "/api/policies/%2F/bad", `{"pattern":"(","definition":{"max-length":1}}`, 400},
		{"PUT", "/api/policies/%2F/bad", `{"pattern":".*","definition":{"max-length":-1}}`, 400},
		{"PUT", "/api/policies/%2F/bad", `{"pattern":".*"`, 400},
		{"PUT", "/api/policies/%2F/bad", `{"pattern":".*","definition":{"x":"` + strings.Repeat("a", 2<<20) + `"}}`, 413},
		{"PUT", "/api/policies/nosuchvhost/bad", `{"pattern":".*","definition":{"max-length":1}}`, 404},
		{"DELETE", "/api/policies/%2F/limits", "", 404},
		{"GET", "/api/queues/%2F/nosuchqueue", "", 404},
		{"GET", "/api/nosuchpath", "", 404},
	} {
		code, body := api(t, p, c.method, c.path, c.body)
		if code != c.want || !json.Valid([]byte(body)) || !strings.Contains(body, `"reason"`) {
			t.Errorf("%s %s: %d %.200s, want %d with a JSON reason", c.method, c.path, code, body, c.want)
		}
	}
	resp, err := http.Get("http://" + p.HTTP + "/api/whoami")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("without credentials: %d", resp.StatusCode)
	}
	req, _ := http.NewRequest("GET", "http://"+p.HTTP+"/api/whoami", bytes.NewReader(nil))
	req.SetBasicAuth("guest", "wrong")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("wrong password: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
}
