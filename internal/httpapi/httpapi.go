// Package httpapi is Loft's HTTP API: the part of RabbitMQ's management
// API that Loft has so far, with its paths and JSON shapes, so that
// existing tooling works. Users authenticate with HTTP basic auth as the
// broker's users, with RabbitMQ's tags deciding what they may do
// (internal/httpx). Client mistakes get a 4xx with a JSON body naming the
// problem, never a 500; unknown paths get 404.
package httpapi

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/loftmq/loft/internal/auth"
	"github.com/loftmq/loft/internal/httpx"
	"github.com/loftmq/loft/internal/vhost"
)

// Config configures New.
type Config struct {
	Users  *auth.Store
	Hosts  *vhost.Hosts
	Logger *slog.Logger
	// Version is the broker's, for /api/overview.
	Version string
	// Alarms, if not nil, returns the resource alarms in effect ("memory",
	// "disk").
	Alarms func() []string
}

// API serves the HTTP API.
type API struct {
	users   *auth.Store
	hosts   *vhost.Hosts
	auth    httpx.Auth
	version string
	alarms  func() []string
	started time.Time
	amqp    atomic.Pointer[Inspector]
	rates   *rates
	router  httpx.Router
}

// New returns the API's handler.
func New(cfg Config) *API {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	a := &API{users: cfg.Users, hosts: cfg.Hosts, auth: httpx.Auth{Users: cfg.Users, Logger: cfg.Logger},
		version: cfg.Version, alarms: cfg.Alarms, started: time.Now(), rates: startRates(cfg.Hosts),
		router: httpx.Router{NotFoundKind: "Object Not Found", NotFoundReason: "Not Found"}}
	m, admin := httpx.Management, httpx.Admin
	a.handle("GET /api/overview", m, a.overview)
	a.handle("GET /api/nodes", httpx.Monitoring, a.nodes)
	a.handle("GET /api/health/checks/alarms", m, a.alarmsCheck)
	a.handle("GET /api/aliveness-test/{vhost}", m, a.aliveness)
	a.handle("GET /api/whoami", httpx.AnyUser, a.whoami)
	a.handle("GET /api/vhosts", m, a.listVhosts)
	a.handle("GET /api/vhosts/{vhost}", m, a.getVhost)
	a.handle("PUT /api/vhosts/{vhost}", admin, a.putVhost)
	a.handle("DELETE /api/vhosts/{vhost}", admin, a.deleteVhost)
	a.handle("GET /api/users", admin, a.listUsers)
	a.handle("GET /api/users/{name}", admin, a.getUser)
	a.handle("PUT /api/users/{name}", admin, a.putUser)
	a.handle("DELETE /api/users/{name}", admin, a.deleteUser)
	a.handle("GET /api/permissions", admin, a.listPermissions)
	a.handle("GET /api/permissions/{vhost}/{user}", admin, a.getPermission)
	a.handle("PUT /api/permissions/{vhost}/{user}", admin, a.putPermission)
	a.handle("DELETE /api/permissions/{vhost}/{user}", admin, a.deletePermission)
	a.handle("GET /api/exchanges", m, a.listExchanges)
	a.handle("GET /api/exchanges/{vhost}", m, a.listExchanges)
	a.handle("GET /api/exchanges/{vhost}/{name}", m, a.getExchange)
	a.handle("PUT /api/exchanges/{vhost}/{name}", m, a.putExchange)
	a.handle("DELETE /api/exchanges/{vhost}/{name}", m, a.deleteExchange)
	a.handle("POST /api/exchanges/{vhost}/{name}/publish", m, a.publish)
	a.handle("GET /api/queues", m, a.listQueues)
	a.handle("GET /api/queues/{vhost}", m, a.listQueues)
	a.handle("PUT /api/queues/{vhost}/{name}", m, a.putQueue)
	a.handle("DELETE /api/queues/{vhost}/{name}", m, a.deleteQueue)
	a.handle("DELETE /api/queues/{vhost}/{name}/contents", m, a.purgeQueue)
	a.handle("POST /api/queues/{vhost}/{name}/get", m, a.getMessages)
	a.handle("GET /api/bindings", m, a.listBindings)
	a.handle("GET /api/bindings/{vhost}", m, a.listBindings)
	a.handle("GET /api/bindings/{vhost}/e/{source}/{kind}/{dest}", m, a.listBindings)
	a.handle("POST /api/bindings/{vhost}/e/{source}/{kind}/{dest}", m, a.postBinding)
	a.handle("DELETE /api/bindings/{vhost}/e/{source}/{kind}/{dest}/{props}", m, a.deleteBinding)
	a.handle("GET /api/connections", m, a.listConnections)
	a.handle("GET /api/connections/{name}", m, a.getConnection)
	a.handle("DELETE /api/connections/{name}", m, a.closeConnection)
	a.handle("GET /api/channels", m, a.listChannels)
	a.handle("GET /api/consumers", m, a.listConsumers)
	a.handle("GET /api/consumers/{vhost}", m, a.listConsumers)
	a.handle("GET /api/definitions", admin, a.exportDefinitions)
	a.handle("POST /api/definitions", admin, a.importDefinitions)
	a.handle("GET /api/policies", httpx.Policymaker, a.listPolicies)
	a.handle("GET /api/policies/{vhost}", httpx.Policymaker, a.listPolicies)
	a.handle("GET /api/policies/{vhost}/{name}", httpx.Policymaker, a.getPolicy)
	a.handle("PUT /api/policies/{vhost}/{name}", httpx.Policymaker, a.putPolicy)
	a.handle("DELETE /api/policies/{vhost}/{name}", httpx.Policymaker, a.deletePolicy)
	a.handle("GET /api/queues/{vhost}/{name}", m, a.getQueue)
	return a
}

// Close stops the API's sampling of queue rates.
func (a *API) Close() { a.rates.close() }

// ServeHTTP serves the API's paths (httpx.Router).
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) { a.router.ServeHTTP(w, r) }

// request is an authenticated request.
type request struct {
	*http.Request
	user *auth.User
}

// handle registers h behind basic auth, for users with one of tags.
func (a *API) handle(pattern string, tags []string, h func(w http.ResponseWriter, r request)) {
	a.router.Handle(pattern, tags, a.auth.Wrap(tags, func(w http.ResponseWriter, r *http.Request, u *auth.User) { h(w, request{r, u}) }))
}

// vhostFor returns the vhost named in the path, once the user may use it.
func (a *API) vhostFor(w http.ResponseWriter, r request) (*vhost.Vhost, string, bool) {
	name := r.PathValue("vhost")
	if _, ok := a.users.Vhost(name); !ok {
		httpx.Error(w, http.StatusNotFound, "Object Not Found", fmt.Sprintf("no vhost '%s'", name))
		return nil, "", false
	}
	if !a.auth.CanUseVhost(r.user, name) {
		httpx.Error(w, http.StatusForbidden, "not_authorized", fmt.Sprintf("access to vhost '%s' refused", name))
		return nil, "", false
	}
	return a.hosts.Get(name), name, true
}

func (a *API) whoami(w http.ResponseWriter, r request) {
	httpx.JSON(w, http.StatusOK, map[string]any{"name": r.user.Name, "tags": r.user.Tags})
}

// writeModelError answers an error of the model with the status it
// stands for.
func writeModelError(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, vhost.ErrNotFound):
		httpx.Error(w, http.StatusNotFound, "Object Not Found", err.Error())
	case errors.Is(err, vhost.ErrAccess):
		httpx.Error(w, http.StatusForbidden, "access_refused", err.Error())
	case errors.Is(err, vhost.ErrArgument), errors.Is(err, vhost.ErrInequivalent), errors.Is(err, vhost.ErrInUse),
		errors.Is(err, vhost.ErrNotEmpty), errors.Is(err, vhost.ErrLocked), errors.Is(err, vhost.ErrUnknownType),
		errors.Is(err, vhost.ErrNotImplemented):
		httpx.Error(w, http.StatusBadRequest, "bad_request", err.Error())
	case errors.Is(err, vhost.ErrClosed):
		httpx.Error(w, http.StatusServiceUnavailable, "unavailable", "the broker is shutting down")
	default:
		httpx.Error(w, http.StatusServiceUnavailable, "unavailable", err.Error())
	}
}
