// Package httpapi is Loft's HTTP API: the part of RabbitMQ's management
// API that Loft has so far, with its paths and JSON shapes, so that
// existing tooling works. Users authenticate with HTTP basic auth as the
// broker's users, with RabbitMQ's tags deciding what they may do.
// Client mistakes get a 4xx with a JSON body naming the problem, never a
// 500; unknown paths get 404.
package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/loftmq/loft/internal/auth"
	"github.com/loftmq/loft/internal/vhost"
)

// maxBody bounds a request body.
const maxBody = 1 << 20

// Config configures New.
type Config struct {
	Users  *auth.Store
	Hosts  *vhost.Hosts
	Logger *slog.Logger
}

// API serves the HTTP API.
type API struct {
	users  *auth.Store
	hosts  *vhost.Hosts
	logger *slog.Logger
	routes []route
}

// route is one endpoint. Paths are matched segment by segment on the
// escaped path, so that a vhost named "/" can be written %2F, as
// RabbitMQ's API has it (http.ServeMux would match the decoded path).
type route struct {
	method string
	path   []string // literal segments, or {name} for a wildcard
	h      http.HandlerFunc
}

// New returns the API's handler.
func New(cfg Config) *API {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	a := &API{users: cfg.Users, hosts: cfg.Hosts, logger: cfg.Logger}
	a.handle("GET /api/whoami", anyUser, a.whoami)
	a.handle("GET /api/policies", policymaker, a.listPolicies)
	a.handle("GET /api/policies/{vhost}", policymaker, a.listPolicies)
	a.handle("GET /api/policies/{vhost}/{name}", policymaker, a.getPolicy)
	a.handle("PUT /api/policies/{vhost}/{name}", policymaker, a.putPolicy)
	a.handle("DELETE /api/policies/{vhost}/{name}", policymaker, a.deletePolicy)
	a.handle("GET /api/queues/{vhost}/{name}", management, a.getQueue)
	return a
}

// ServeHTTP serves the API's paths: 404 for an unknown one, 405 for a
// known one with another method.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var segs []string
	for _, s := range strings.Split(strings.Trim(r.URL.EscapedPath(), "/"), "/") {
		u, err := url.PathUnescape(s)
		if err != nil {
			writeError(w, http.StatusBadRequest, "bad_request", "malformed path")
			return
		}
		segs = append(segs, u)
	}
	allowed := false
	for _, rt := range a.routes {
		if !rt.match(segs) {
			continue
		}
		if rt.method != r.Method {
			allowed = true
			continue
		}
		for i, p := range rt.path {
			if name, ok := strings.CutPrefix(p, "{"); ok {
				r.SetPathValue(strings.TrimSuffix(name, "}"), segs[i])
			}
		}
		rt.h(w, r)
		return
	}
	if allowed {
		writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", r.Method+" is not allowed here")
		return
	}
	writeError(w, http.StatusNotFound, "Object Not Found", "Not Found")
}

func (rt route) match(segs []string) bool {
	if len(segs) != len(rt.path) {
		return false
	}
	for i, p := range rt.path {
		if !strings.HasPrefix(p, "{") && p != segs[i] {
			return false
		}
	}
	return true
}

// The tags that open each group of endpoints, as in RabbitMQ: any of them.
var (
	anyUser     []string
	management  = []string{"management", "policymaker", "monitoring", "administrator"}
	policymaker = []string{"policymaker", "administrator"}
)

// request is an authenticated request.
type request struct {
	*http.Request
	user *auth.User
}

// handle registers h behind basic auth, for users with one of tags.
func (a *API) handle(pattern string, tags []string, h func(w http.ResponseWriter, r request)) {
	method, path, _ := strings.Cut(pattern, " ")
	a.routes = append(a.routes, route{method: method, path: strings.Split(strings.Trim(path, "/"), "/"), h: func(w http.ResponseWriter, r *http.Request) {
		name, pass, ok := r.BasicAuth()
		if !ok {
			w.Header().Set("WWW-Authenticate", `Basic realm="Loft"`)
			writeError(w, http.StatusUnauthorized, "not_authorized", "Login failed")
			return
		}
		u, err := a.users.Authenticate(name, pass, remoteAddr(r))
		if err != nil {
			a.logger.Info("http: login refused", "user", name, "remote", r.RemoteAddr, "err", err)
			w.Header().Set("WWW-Authenticate", `Basic realm="Loft"`)
			writeError(w, http.StatusUnauthorized, "not_authorized", "Login failed")
			return
		}
		if tags != nil && !slices.ContainsFunc(tags, u.HasTag) {
			writeError(w, http.StatusUnauthorized, "not_authorized", "Not management user")
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxBody)
		h(w, request{r, u})
	}})
}

func remoteAddr(r *http.Request) net.Addr {
	a, err := net.ResolveTCPAddr("tcp", r.RemoteAddr)
	if err != nil {
		return nil
	}
	return a
}

// vhostFor returns the vhost named in the path, once the user may use it.
func (a *API) vhostFor(w http.ResponseWriter, r request) (*vhost.Vhost, string, bool) {
	name := r.PathValue("vhost")
	if _, ok := a.users.Vhost(name); !ok {
		writeError(w, http.StatusNotFound, "Object Not Found", fmt.Sprintf("no vhost '%s'", name))
		return nil, "", false
	}
	if !r.user.HasTag("administrator") {
		if err := a.users.CheckVhost(r.user.Name, name); err != nil {
			writeError(w, http.StatusUnauthorized, "not_authorized", fmt.Sprintf("access to vhost '%s' refused", name))
			return nil, "", false
		}
	}
	return a.hosts.Get(name), name, true
}

func (a *API) whoami(w http.ResponseWriter, r request) {
	writeJSON(w, http.StatusOK, map[string]any{"name": r.user.Name, "tags": r.user.Tags})
}

// writeModelError answers an error of the model with the status it
// stands for.
func writeModelError(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, vhost.ErrNotFound):
		writeError(w, http.StatusNotFound, "Object Not Found", err.Error())
	case errors.Is(err, vhost.ErrArgument), errors.Is(err, vhost.ErrInequivalent):
		writeError(w, http.StatusBadRequest, "bad_request", strings.TrimPrefix(err.Error(), vhost.ErrArgument.Error()+": "))
	case errors.Is(err, vhost.ErrClosed):
		writeError(w, http.StatusServiceUnavailable, "unavailable", "the broker is shutting down")
	default:
		writeError(w, http.StatusServiceUnavailable, "unavailable", err.Error())
	}
}

// writeError answers with RabbitMQ's error body.
func writeError(w http.ResponseWriter, status int, kind, reason string) {
	writeJSON(w, status, map[string]string{"error": kind, "reason": reason})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// readJSON decodes a request body into v, numbers kept exact, answering
// 400 (or 413) itself when it cannot.
func readJSON(w http.ResponseWriter, r request, v any) bool {
	d := json.NewDecoder(r.Body)
	d.UseNumber()
	if err := d.Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(w, http.StatusRequestEntityTooLarge, "bad_request", fmt.Sprintf("request body over %d bytes", tooBig.Limit))
			return false
		}
		writeError(w, http.StatusBadRequest, "bad_request", "body is not valid JSON: "+err.Error())
		return false
	}
	return true
}
