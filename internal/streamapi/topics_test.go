package streamapi

import (
	"net/http"
	"strings"
	"testing"

	"github.com/loftmq/loft/internal/httpx"
	"github.com/loftmq/loft/internal/logstore"
)

func TestAuth(t *testing.T) {
	s := newStack(t, stackOpts{})
	s.createTopic("t", 1)
	for _, tc := range []struct {
		name         string
		method, path string
		user         string // as stack.req
		password     string // instead of "pw"
		body         any
		want         int
	}{
		{name: "no credentials", method: "GET", path: "/api/v1/topics", user: "-", want: 401},
		{name: "wrong password", method: "GET", path: "/api/v1/topics", user: "mgmt", password: "nope", want: 401},
		{name: "unknown user", method: "GET", path: "/api/v1/topics", user: "nobody", want: 401},
		{name: "no tags may not read", method: "GET", path: "/api/v1/topics", user: "plain", want: 403},
		{name: "management reads", method: "GET", path: "/api/v1/topics", user: "mgmt", want: 200},
		{name: "monitoring reads", method: "GET", path: "/api/v1/groups", user: "mon", want: 200},
		{name: "management publishes", method: "POST", path: "/api/v1/topics/t/records", user: "mgmt",
			body: map[string]any{"records": []any{map[string]any{"value": "v"}}}, want: 200},
		{name: "management may not create", method: "POST", path: "/api/v1/topics", user: "mgmt",
			body: map[string]any{"name": "u"}, want: 403},
		{name: "monitoring may not delete", method: "DELETE", path: "/api/v1/topics/t", user: "mon", want: 403},
		{name: "management may not alter", method: "PATCH", path: "/api/v1/topics/t/configs", user: "mgmt",
			body: map[string]any{"retention.ms": 1}, want: 403},
		{name: "management may not reset", method: "POST", path: "/api/v1/groups/g/reset-offsets", user: "mgmt",
			body: map[string]any{"to": "earliest"}, want: 403},
		{name: "openapi is public", method: "GET", path: "/api/v1/openapi.json", user: "-", want: 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var r reply
			if tc.password != "" {
				req, _ := http.NewRequestWithContext(testCtx(t), tc.method, s.srv.URL+tc.path, nil)
				req.SetBasicAuth(tc.user, tc.password)
				resp, err := s.srv.Client().Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				r.status = resp.StatusCode
			} else {
				r = s.req(tc.method, tc.path, tc.user, tc.body)
			}
			if r.status != tc.want {
				t.Fatalf("%d %s, want %d", r.status, r.body, tc.want)
			}
			if (r.status == 401 || r.status == 403) && r.body != nil && !strings.Contains(string(r.body), "not_authorized") {
				t.Errorf("body %s", r.body)
			}
		})
	}
}

func TestTopics(t *testing.T) {
	s := newStack(t, stackOpts{})
	r := s.must(201, "POST", "/api/v1/topics", map[string]any{
		"name": "orders", "partitions": 3, "configs": map[string]any{"retention.ms": 3600000, "cleanup.policy": "delete"},
	})
	if loc := r.header.Get("Location"); loc != "/api/v1/topics/orders" {
		t.Errorf("Location %q", loc)
	}
	var d topicDetail
	r.decode(t, &d)
	if d.Name != "orders" || d.PartitionCount != 3 || len(d.Partitions) != 3 || len(d.ID) != 22 {
		t.Fatalf("created %+v", d)
	}
	if c := config(d.Configs, "retention.ms"); c.Value != "3600000" || c.Default {
		t.Errorf("retention.ms %+v", c)
	}
	if c := config(d.Configs, "segment.ms"); !c.Default {
		t.Errorf("segment.ms %+v, want a default", c)
	}
	s.createTopic("audit", 1)

	var list []topicSummary
	s.must(200, "GET", "/api/v1/topics", nil).decode(t, &list)
	if len(list) != 2 || list[0].Name != "audit" || list[1].Name != "orders" || list[1].PartitionCount != 3 || list[1].ID != d.ID {
		t.Fatalf("list %+v", list)
	}

	s.produce("orders", 1, logstore.Record{Value: []byte("a")}, logstore.Record{Value: []byte("b")})
	s.must(200, "GET", "/api/v1/topics/orders", nil).decode(t, &d)
	if p := d.Partitions[1]; p.Partition != 1 || p.StartOffset != 0 || p.EndOffset != 2 {
		t.Errorf("partition 1: %+v", p)
	}
	if p := d.Partitions[0]; p.EndOffset != 0 {
		t.Errorf("partition 0: %+v", p)
	}

	// The broker's default partition count when none is given.
	s.must(201, "POST", "/api/v1/topics", map[string]any{"name": "dflt"}).decode(t, &d)
	if d.PartitionCount != 1 {
		t.Errorf("default partitions: %d", d.PartitionCount)
	}

	wantError(t, s.req("POST", "/api/v1/topics", "", map[string]any{"name": "orders"}), 409, "conflict", "already exists")
	wantError(t, s.req("POST", "/api/v1/topics", "", map[string]any{"name": "bad name!"}), 400, "bad_request", "invalid topic")
	wantError(t, s.req("POST", "/api/v1/topics", "", map[string]any{"name": "__x"}), 400, "bad_request", "reserved")
	wantError(t, s.req("POST", "/api/v1/topics", "", map[string]any{"name": "x", "partitions": 0}), 400, "bad_request", "partitions")
	wantError(t, s.req("POST", "/api/v1/topics", "", map[string]any{"name": "x", "configs": map[string]any{"retention.mss": "1"}}), 400, "bad_request", "retention.mss")
	wantError(t, s.req("POST", "/api/v1/topics", "", map[string]any{"name": "x", "configs": map[string]any{"retention.ms": "soon"}}), 400, "bad_request", "retention.ms")
	wantError(t, s.req("POST", "/api/v1/topics", "", map[string]any{"name": "x", "configs": map[string]any{"retention.ms": []int{1}}}), 400, "bad_request", "retention.ms")
	wantError(t, s.req("POST", "/api/v1/topics", "", map[string]any{"name": "x", "partition": 2}), 400, "bad_request", "unknown field")
	wantError(t, s.req("POST", "/api/v1/topics", "", `{"name": "x",`), 400, "bad_request", "not valid JSON")
	wantError(t, s.req("POST", "/api/v1/topics", "", `{"name": 7}`), 400, "bad_request", `field "name"`)
	wantError(t, s.req("GET", "/api/v1/topics/nope", "", nil), 404, "not_found", "nope")

	s.must(204, "DELETE", "/api/v1/topics/audit", nil)
	wantError(t, s.req("DELETE", "/api/v1/topics/audit", "", nil), 404, "not_found", "audit")
	wantError(t, s.req("GET", "/api/v1/topics/audit", "", nil), 404, "not_found", "audit")
}

func config(cs []configJSON, name string) configJSON {
	for _, c := range cs {
		if c.Name == name {
			return c
		}
	}
	return configJSON{}
}

func TestConfigs(t *testing.T) {
	s := newStack(t, stackOpts{})
	s.must(201, "POST", "/api/v1/topics", map[string]any{"name": "t", "configs": map[string]any{"retention.ms": "1000", "segment.ms": 5000}})

	var a configsAnswer
	s.must(200, "GET", "/api/v1/topics/t/configs", nil).decode(t, &a)
	if a.Topic != "t" || config(a.Configs, "retention.ms").Value != "1000" || config(a.Configs, "segment.ms").Value != "5000" {
		t.Fatalf("configs %+v", a)
	}

	// PATCH is a merge patch: set one, delete one, leave the rest.
	s.must(200, "PATCH", "/api/v1/topics/t/configs", map[string]any{"retention.ms": 2000, "segment.ms": nil, "cleanup.policy": "compact"}).decode(t, &a)
	if c := config(a.Configs, "retention.ms"); c.Value != "2000" || c.Default {
		t.Errorf("retention.ms %+v", c)
	}
	if c := config(a.Configs, "segment.ms"); !c.Default {
		t.Errorf("segment.ms %+v, want the default", c)
	}
	if c := config(a.Configs, "cleanup.policy"); c.Value != "compact" {
		t.Errorf("cleanup.policy %+v", c)
	}

	// PUT replaces: what is not given goes back to the default.
	s.must(200, "PUT", "/api/v1/topics/t/configs", map[string]any{"max.message.bytes": "2000"}).decode(t, &a)
	for _, c := range a.Configs {
		if (c.Name == "max.message.bytes") == c.Default {
			t.Errorf("after PUT: %+v", c)
		}
	}

	wantError(t, s.req("PATCH", "/api/v1/topics/t/configs", "", map[string]any{"retention.ms": "x"}), 400, "bad_request", "retention.ms")
	wantError(t, s.req("PATCH", "/api/v1/topics/t/configs", "", map[string]any{"nope": "1"}), 400, "bad_request", "nope")
	wantError(t, s.req("PUT", "/api/v1/topics/t/configs", "", map[string]any{"retention.ms": nil}), 400, "bad_request", "null")
	wantError(t, s.req("PUT", "/api/v1/topics/t/configs", "", "null"), 400, "bad_request", "JSON object")
	wantError(t, s.req("PUT", "/api/v1/topics/t/configs", "", "[1]"), 400, "bad_request", "")
	wantError(t, s.req("PATCH", "/api/v1/topics/none/configs", "", map[string]any{}), 404, "not_found", "none")
	wantError(t, s.req("GET", "/api/v1/topics/none/configs", "", nil), 404, "not_found", "none")
	// A failed change changes nothing.
	s.must(200, "GET", "/api/v1/topics/t/configs", nil).decode(t, &a)
	if config(a.Configs, "max.message.bytes").Value != "2000" {
		t.Errorf("configs changed by a refused change: %+v", a)
	}
}

func TestPaths(t *testing.T) {
	s := newStack(t, stackOpts{})
	s.createTopic("t", 1)
	wantError(t, s.req("GET", "/api/v1/nothing", "", nil), 404, "not_found", "/api/v1/nothing")
	wantError(t, s.req("GET", "/api/v1/topics/t/partitions/0", "", nil), 404, "not_found", "")
	wantError(t, s.req("GET", "/api/v1/", "", nil), 404, "not_found", "")
	wantError(t, s.req("GET", "/api/v1/topics/t/partitions/9/records?offset=0", "", nil), 404, "not_found", "no partition 9")
	wantError(t, s.req("GET", "/api/v1/topics/t/partitions/x/records?offset=0", "", nil), 400, "bad_request", "not a number")
	// An unknown path is 404 before authentication is asked for.
	wantError(t, s.req("GET", "/api/v1/nothing", "-", nil), 404, "not_found", "")

	r := s.req("PUT", "/api/v1/topics", "", nil)
	wantError(t, r, 405, "method_not_allowed", "PUT")
	if allow := r.header.Get("Allow"); allow != "GET, POST" {
		t.Errorf("Allow %q", allow)
	}
	wantError(t, s.req("POST", "/api/v1/groups/g", "", nil), 405, "method_not_allowed", "")
	wantError(t, s.req("GET", "/api/v1/topics/t/records", "", nil), 405, "method_not_allowed", "")
}

func TestBodyTooLarge(t *testing.T) {
	s := newStack(t, stackOpts{})
	s.createTopic("t", 1)
	big := `{"records":[{"value":"` + strings.Repeat("x", httpx.MaxBody) + `"}]}`
	wantError(t, s.req("POST", "/api/v1/topics/t/records", "", big), 413, "bad_request", "bytes")
}
