package httpapi

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/loftmq/loft/internal/auth"
	"github.com/loftmq/loft/internal/fs"
	"github.com/loftmq/loft/internal/logstore"
	"github.com/loftmq/loft/internal/meta"
	"github.com/loftmq/loft/internal/vhost"
)

// testAPI serves the API over real stores on an in-memory file system.
func testAPI(t testing.TB) (*API, *httptest.Server) {
	t.Helper()
	quiet := slog.New(slog.DiscardHandler)
	ls, err := logstore.Open(fs.NewMem(), "data", logstore.Options{Logger: quiet, CleanInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	md, err := meta.Open(ls)
	if err != nil {
		t.Fatal(err)
	}
	users, err := auth.Open(context.Background(), md)
	if err != nil {
		t.Fatal(err)
	}
	transient, err := logstore.Open(fs.NewMem(), "transient", logstore.Options{Logger: quiet, CleanInterval: -1,
		Fsync: logstore.FsyncPolicy{Mode: logstore.FsyncNever}})
	if err != nil {
		t.Fatal(err)
	}
	hosts, err := vhost.Open(vhost.Options{Store: ls, Transient: transient, Meta: md, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	if err := users.AddUser(context.Background(), "plain", "pw", nil); err != nil {
		t.Fatal(err)
	}
	a := New(Config{Users: users, Hosts: hosts, Logger: quiet, Version: "test"})
	srv := httptest.NewServer(a)
	t.Cleanup(func() {
		srv.Close()
		a.Close()
		hosts.Close()
		transient.Close()
		md.Close()
		ls.Close()
	})
	return a, srv
}

func call(t *testing.T, srv *httptest.Server, user, method, path, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if user != "" {
		req.SetBasicAuth(user, map[string]string{"guest": "guest", "plain": "pw"}[user])
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestRoutingAndErrors: paths match on escaped segments (%2F is the vhost
// "/"), unknown paths are 404 and other methods 405, credentials and
// tags give 401 and 403, bodies are checked and bounded, and every error
// is a JSON body with a reason.
func TestRoutingAndErrors(t *testing.T) {
	_, srv := testAPI(t)
	for _, c := range []struct {
		user, method, path, body string
		want                     int
	}{
		{"guest", "PUT", "/api/queues/%2F/q1", `{"durable":true}`, 201},
		{"guest", "GET", "/api/queues/%2F/q1", "", 200},
		{"guest", "GET", "/api/queues/%2F/q1/", "", 200},
		{"guest", "GET", "/api/queues/%2F/nosuch", "", 404},
		{"guest", "GET", "/api/nosuch", "", 404},
		{"guest", "PATCH", "/api/queues/%2F/q1", "", 405},
		{"", "GET", "/api/overview", "", 401},
		{"plain", "GET", "/api/overview", "", 403},
		{"guest", "PUT", "/api/queues/%2F/q2", `{"durable":`, 400},
		{"guest", "PUT", "/api/queues/%2F/q2", `{"arguments":{"x-max-length":-1}}`, 400},
		{"guest", "PUT", "/api/queues/%2F/q2", `{"arguments":{"x":"` + strings.Repeat("a", 1<<20) + `"}}`, 413},
		{"guest", "PUT", "/api/exchanges/%2F/x", `{}`, 400},
	} {
		code, body := call(t, srv, c.user, c.method, c.path, c.body)
		if code != c.want {
			t.Errorf("%s %s as %q: %d %.200s, want %d", c.method, c.path, c.user, code, body, c.want)
		}
		if code >= 400 && !strings.Contains(body, `"reason"`) {
			t.Errorf("%s %s: %d without a JSON reason: %.200s", c.method, c.path, code, body)
		}
	}
}

// TestRates: message_stats carries the counts and their rate over the
// last sampling interval.
func TestRates(t *testing.T) {
	a, srv := testAPI(t)
	if code, body := call(t, srv, "guest", "PUT", "/api/queues/%2F/work", `{}`); code != 201 {
		t.Fatalf("PUT queue: %d %s", code, body)
	}
	a.rates.sample()
	start := time.Now()
	for range 10 {
		if code, body := call(t, srv, "guest", "POST", "/api/exchanges/%2F/amq.default/publish",
			`{"routing_key":"work","payload":"x","payload_encoding":"string","properties":{}}`); code != 200 {
			t.Fatalf("publish: %d %s", code, body)
		}
	}
	time.Sleep(50 * time.Millisecond)
	a.rates.sample()
	elapsed := time.Since(start).Seconds()
	st := a.rates.messageStats("/", "work", a.hosts.QueueStats()[0].Totals, true)
	if st["publish"] != uint64(10) {
		t.Fatalf("publish count %v", st["publish"])
	}
	rate := st["publish_details"].(map[string]float64)["rate"]
	if rate < 10/elapsed/2 || rate > 10/0.05*2 {
		t.Fatalf("publish rate %v for 10 messages in %.3f s", rate, elapsed)
	}
	if r := st["ack_details"].(map[string]float64)["rate"]; r != 0 {
		t.Fatalf("ack rate %v, nothing acked", r)
	}
}
