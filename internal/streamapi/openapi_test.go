package streamapi

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

// openAPIDoc is the part of the OpenAPI document the tests check.
type openAPIDoc struct {
	OpenAPI string                                `json:"openapi"`
	Paths   map[string]map[string]json.RawMessage `json:"paths"`
}

type openAPIOp struct {
	Tags      []string                   `json:"x-loft-tags"`
	Security  *[]map[string]any          `json:"security"`
	Responses map[string]json.RawMessage `json:"responses"`
}

// TestOpenAPICoversRoutes keeps the document and the routes in step: every
// route is documented with the tags it needs, and every documented
// operation is a route.
func TestOpenAPICoversRoutes(t *testing.T) {
	var doc openAPIDoc
	if err := json.Unmarshal(openAPI, &doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Errorf("openapi %q, want 3.x", doc.OpenAPI)
	}
	a := New(Config{})
	seen := map[string]bool{}
	for _, rt := range a.router.Routes() {
		key := rt.Method + " " + rt.Pattern
		seen[key] = true
		raw, ok := doc.Paths[rt.Pattern][strings.ToLower(rt.Method)]
		if !ok {
			t.Errorf("%s is not in openapi.json", key)
			continue
		}
		var op openAPIOp
		if err := json.Unmarshal(raw, &op); err != nil {
			t.Fatalf("%s: %v", key, err)
		}
		if !slices.Equal(op.Tags, rt.Tags) {
			t.Errorf("%s: x-loft-tags %v, the route needs %v", key, op.Tags, rt.Tags)
		}
		public := op.Security != nil && len(*op.Security) == 0
		if public != (rt.Tags == nil) {
			t.Errorf("%s: documented public %v, route public %v", key, public, rt.Tags == nil)
		}
		if rt.Tags != nil && op.Responses["401"] == nil {
			t.Errorf("%s: 401 not documented", key)
		}
	}
	for path, ops := range doc.Paths {
		for method := range ops {
			if method == "parameters" {
				continue
			}
			if key := strings.ToUpper(method) + " " + path; !seen[key] {
				t.Errorf("openapi.json documents %s, which is no route", key)
			}
		}
	}
}

func TestServeOpenAPI(t *testing.T) {
	s := newStack(t, stackOpts{})
	r := s.must(200, "GET", "/api/v1/openapi.json", nil)
	if !bytes.Equal(r.body, openAPI) || r.header.Get("Content-Type") != "application/json" {
		t.Errorf("served %d bytes (%s), want the embedded document", len(r.body), r.header.Get("Content-Type"))
	}
}
