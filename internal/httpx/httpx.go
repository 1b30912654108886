// Package httpx holds what Loft's HTTP APIs share: HTTP basic auth as the
// broker's users with RabbitMQ's tags, RabbitMQ's JSON error bodies, and
// size-limited JSON request bodies.
package httpx

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"

	"github.com/loftmq/loft/internal/auth"
)

// MaxBody bounds a request body.
const MaxBody = 1 << 20

// The tags that open each group of endpoints, as in RabbitMQ: a user needs
// one of them. AnyUser is any authenticated user.
var (
	AnyUser     []string
	Management  = []string{"management", "policymaker", "monitoring", "administrator"}
	Monitoring  = []string{"monitoring", "administrator"}
	Policymaker = []string{"policymaker", "administrator"}
	Admin       = []string{"administrator"}
)

// Auth authenticates requests with HTTP basic auth as the broker's users.
type Auth struct {
	Users  *auth.Store
	Logger *slog.Logger
}

// Handler is an endpoint behind Auth: it gets the authenticated user.
type Handler func(w http.ResponseWriter, r *http.Request, user *auth.User)

// Wrap returns h behind basic auth, for users with one of tags (any user
// when tags is nil), with the request body limited to MaxBody.
func (a Auth) Wrap(tags []string, h Handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		name, pass, ok := r.BasicAuth()
		if !ok {
			w.Header().Set("WWW-Authenticate", `Basic realm="Loft"`)
			Error(w, http.StatusUnauthorized, "not_authorized", "Login failed")
			return
		}
		u, err := a.Users.Authenticate(name, pass, remoteAddr(r))
		if err != nil {
			if a.Logger != nil {
				a.Logger.Info("http: login refused", "user", name, "remote", r.RemoteAddr, "err", err)
			}
			w.Header().Set("WWW-Authenticate", `Basic realm="Loft"`)
			Error(w, http.StatusUnauthorized, "not_authorized", "Login failed")
			return
		}
		if tags != nil && !slices.ContainsFunc(tags, u.HasTag) {
			// Authenticated, not allowed: 403 (RabbitMQ answers 401).
			Error(w, http.StatusForbidden, "not_authorized", fmt.Sprintf("user '%s' needs one of the tags %v", u.Name, tags))
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, MaxBody)
		h(w, r, u)
	}
}

// CanUseVhost reports whether u may use vhost: administrators may use
// every vhost, others those they have permissions in.
func (a Auth) CanUseVhost(u *auth.User, vhost string) bool {
	return u.HasTag("administrator") || a.Users.CheckVhost(u.Name, vhost) == nil
}

func remoteAddr(r *http.Request) net.Addr {
	addr, err := net.ResolveTCPAddr("tcp", r.RemoteAddr)
	if err != nil {
		return nil
	}
	return addr
}

// Error answers with RabbitMQ's error body, {"error", "reason"}.
func Error(w http.ResponseWriter, status int, kind, reason string) {
	JSON(w, status, map[string]string{"error": kind, "reason": reason})
}

// JSON answers with v as JSON.
func JSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// ReadJSON decodes a request body into v, numbers kept exact
// (json.Number), answering 400 (or 413) itself when it cannot.
func ReadJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	d := json.NewDecoder(r.Body)
	d.UseNumber()
	if err := d.Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			Error(w, http.StatusRequestEntityTooLarge, "bad_request", fmt.Sprintf("request body over %d bytes", tooBig.Limit))
			return false
		}
		Error(w, http.StatusBadRequest, "bad_request", "body is not valid JSON: "+err.Error())
		return false
	}
	return true
}
