package httpapi

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// fuzzTargets are the endpoints that take a JSON body.
var fuzzTargets = []struct{ method, path string }{
	{"PUT", "/api/policies/%2F/p"},
	{"PUT", "/api/queues/%2F/q"},
	{"PUT", "/api/exchanges/%2F/x"},
	{"POST", "/api/exchanges/%2F/amq.direct/publish"},
	{"POST", "/api/queues/%2F/q/get"},
	{"POST", "/api/bindings/%2F/e/amq.direct/q/q"},
	{"PUT", "/api/vhosts/v"},
	{"PUT", "/api/users/u"},
	{"PUT", "/api/permissions/%2F/u"},
	{"POST", "/api/definitions"},
}

// FuzzJSONBodies sends arbitrary bodies to every endpoint that reads one:
// whatever comes, the answer is a status below 500 (a 503 only for a
// storage failure, which an in-memory store does not have) with a JSON
// body, and the broker does not panic.
func FuzzJSONBodies(f *testing.F) {
	seeds := []string{
		`{"pattern":"^q","definition":{"max-length":10}}`,
		`{"durable":true,"arguments":{"x-max-length":5,"x-queue-type":"stream"}}`,
		`{"type":"x-delayed-message","arguments":{"x-delayed-type":"direct"}}`,
		`{"routing_key":"q","payload":"aGk=","payload_encoding":"base64","properties":{"headers":{"a":[1,{"b":null}]},"expiration":"10"}}`,
		`{"count":3,"ackmode":"reject_requeue_false"}`,
		`{"routing_key":"k","arguments":{"x-match":"any"}}`,
		`{"description":"d","tags":["a",1]}`,
		`{"password":"p","tags":"management,policymaker"}`,
		`{"configure":"(","write":".*","read":".*"}`,
		`{"vhosts":[{"name":"v2"}],"queues":[{"name":"q2","vhost":"v2","durable":true,"arguments":{"x-max-priority":300}}]}`,
		`{"pattern":"","definition":{"message-ttl":1e400}}`,
		`[]`, `null`, `"`, `{"definition":{"max-length":{"x":1}}}`,
	}
	for i, s := range seeds {
		f.Add(uint8(i), []byte(s))
	}
	_, srv := testAPI(f)
	f.Fuzz(func(t *testing.T, which uint8, body []byte) {
		target := fuzzTargets[int(which)%len(fuzzTargets)]
		req := httptest.NewRequest(target.method, target.path, strings.NewReader(string(body)))
		req.SetBasicAuth("guest", "guest")
		req.RemoteAddr = "127.0.0.1:1234"
		rec := httptest.NewRecorder()
		srv.Config.Handler.ServeHTTP(rec, req)
		if rec.Code >= 500 && rec.Code != http.StatusServiceUnavailable {
			t.Fatalf("%s %s with %q: %d %s", target.method, target.path, body, rec.Code, rec.Body)
		}
		if rec.Code >= 400 && !json.Valid(rec.Body.Bytes()) {
			t.Fatalf("%s %s with %q: %d without a JSON body: %s", target.method, target.path, body, rec.Code, rec.Body)
		}
	})
}
