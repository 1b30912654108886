package httpx

import (
	"net/http"
	"net/url"
	"strings"
)

// Router routes requests on the escaped path, segment by segment, so that
// a vhost named "/" can be written %2F, as RabbitMQ's API has it
// (http.ServeMux matches the decoded path). A wildcard segment {name} is
// given to the handler as r.PathValue(name). An unknown path gets 404, a
// known one with another method 405 with Allow, a malformed escape 400.
type Router struct {
	// NotFoundKind and NotFoundReason word a 404 (RabbitMQ's API and
	// Loft's own word it differently); an empty reason names the path.
	NotFoundKind, NotFoundReason string

	routes []Route
}

// Route is one endpoint.
type Route struct {
	Method  string
	Pattern string   // the path with its wildcards: /api/queues/{vhost}/{name}
	Tags    []string // the tags it needs, for documentation; nil: none
	segs    []string
	h       http.HandlerFunc
}

// Handle adds an endpoint for "METHOD /path/{wildcard}".
func (rt *Router) Handle(pattern string, tags []string, h http.HandlerFunc) {
	method, path, _ := strings.Cut(pattern, " ")
	rt.routes = append(rt.routes, Route{Method: method, Pattern: path, Tags: tags,
		segs: strings.Split(strings.Trim(path, "/"), "/"), h: h})
}

// Routes returns the endpoints, in the order they were added.
func (rt *Router) Routes() []Route { return rt.routes }

// ServeHTTP serves the endpoints.
func (rt *Router) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var segs []string
	for _, s := range strings.Split(strings.Trim(r.URL.EscapedPath(), "/"), "/") {
		u, err := url.PathUnescape(s)
		if err != nil {
			Error(w, http.StatusBadRequest, "bad_request", "malformed path")
			return
		}
		segs = append(segs, u)
	}
	var allowed []string
	for _, route := range rt.routes {
		if !route.match(segs) {
			continue
		}
		if route.Method != r.Method {
			allowed = append(allowed, route.Method)
			continue
		}
		for i, p := range route.segs {
			if name, ok := strings.CutPrefix(p, "{"); ok {
				r.SetPathValue(strings.TrimSuffix(name, "}"), segs[i])
			}
		}
		route.h(w, r)
		return
	}
	if allowed != nil {
		w.Header().Set("Allow", strings.Join(allowed, ", "))
		Error(w, http.StatusMethodNotAllowed, "method_not_allowed", r.Method+" is not allowed here")
		return
	}
	reason := rt.NotFoundReason
	if reason == "" {
		reason = "no such path: " + r.URL.Path
	}
	Error(w, http.StatusNotFound, rt.NotFoundKind, reason)
}

func (route Route) match(segs []string) bool {
	if len(segs) != len(route.segs) {
		return false
	}
	for i, p := range route.segs {
		if !strings.HasPrefix(p, "{") && p != segs[i] {
			return false
		}
	}
	return true
}
