package streamapi

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// fuzzTargets are the endpoints that take a JSON body.
var fuzzTargets = []struct{ method, path string }{
	{"POST", "/api/v1/topics"},
	{"PUT", "/api/v1/topics/t/configs"},
	{"PATCH", "/api/v1/topics/t/configs"},
	{"POST", "/api/v1/topics/t/records"},
	{"POST", "/api/v1/groups/g/reset-offsets"},
}

// FuzzJSONBodies sends arbitrary bodies to every endpoint that reads one:
// the answer is never a 5xx but 503 and always has a JSON error body,
// and nothing panics.
func FuzzJSONBodies(f *testing.F) {
	seeds := []string{
		`{"name":"u","partitions":2,"configs":{"retention.ms":1000,"cleanup.policy":"compact"}}`,
		`{"retention.ms":"3600000","max.message.bytes":2097152}`,
		`{"segment.ms":null,"retention.bytes":-1}`,
		`{"records":[{"key":"k","value":"v","headers":[{"key":"h","value":null}]},{"value":"AAEC","encoding":"base64","partition":0}]}`,
		`{"records":[{"partition":99,"value":"x"}]}`,
		`{"to":"timestamp","timestamp":-1,"topics":[{"topic":"t","partitions":[0,5]}],"dry_run":true}`,
		`{"to":"offset","offset":9223372036854775807}`,
		`{"records":[]}`, `[]`, `null`, `{`, `{"name":"` + strings.Repeat("x", 300) + `"}`,
	}
	for i, s := range seeds {
		f.Add(uint8(i), []byte(s))
	}
	s := newStack(f, stackOpts{})
	s.createTopic("t", 1)
	f.Fuzz(func(t *testing.T, which uint8, body []byte) {
		target := fuzzTargets[int(which)%len(fuzzTargets)]
		req := httptest.NewRequest(target.method, target.path, strings.NewReader(string(body)))
		req.SetBasicAuth("guest", "guest")
		req.RemoteAddr = "127.0.0.1:1234"
		rec := httptest.NewRecorder()
		s.api.ServeHTTP(rec, req)
		if rec.Code >= 500 && rec.Code != http.StatusServiceUnavailable {
			t.Fatalf("%s %s with %q: %d %s", target.method, target.path, body, rec.Code, rec.Body)
		}
		if rec.Code >= 400 && !json.Valid(rec.Body.Bytes()) {
			t.Fatalf("%s %s with %q: %d without a JSON body: %s", target.method, target.path, body, rec.Code, rec.Body)
		}
	})
}
