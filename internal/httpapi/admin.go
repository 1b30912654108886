package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/loftmq/loft/internal/auth"
	"github.com/loftmq/loft/internal/httpx"
	"github.com/loftmq/loft/internal/vhost"
)

// nodeName is the node's name in RabbitMQ's form.
func nodeName() string {
	host, err := os.Hostname()
	if err != nil {
		host = "localhost"
	}
	return "loft@" + host
}

// overview answers GET /api/overview.
func (a *API) overview(w http.ResponseWriter, r request) {
	var queues, exchanges, consumers, ready, unacked int
	for _, v := range a.users.Vhosts() {
		if !a.auth.CanUseVhost(r.user, v.Name) {
			continue
		}
		m := a.hosts.Get(v.Name)
		for _, q := range m.Queues() {
			queues++
			consumers += q.Consumers
			ready += q.Ready
			unacked += q.Unacked
		}
		exchanges += len(m.Exchanges())
	}
	httpx.JSON(w, http.StatusOK, map[string]any{
		"product_name": "Loft", "product_version": a.version, "management_version": a.version,
		"node": nodeName(), "cluster_name": nodeName(),
		"object_totals": map[string]int{"queues": queues, "exchanges": exchanges, "consumers": consumers},
		"queue_totals":  map[string]int{"messages": ready + unacked, "messages_ready": ready, "messages_unacknowledged": unacked},
	})
}

// nodes answers GET /api/nodes: this one node.
func (a *API) nodes(w http.ResponseWriter, r request) {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	memAlarm, diskAlarm := false, false
	if a.alarms != nil {
		for _, res := range a.alarms() {
			memAlarm = memAlarm || res == "memory"
			diskAlarm = diskAlarm || res == "disk"
		}
	}
	httpx.JSON(w, http.StatusOK, []map[string]any{{
		"name": nodeName(), "type": "disc", "running": true, "mem_used": ms.Sys,
		"mem_alarm": memAlarm, "disk_free_alarm": diskAlarm,
		"uptime": time.Since(a.started).Milliseconds(), "processors": runtime.NumCPU(),
	}})
}

// alarmsCheck answers GET /api/health/checks/alarms: 200 without a
// resource alarm, 503 with one, as RabbitMQ does.
func (a *API) alarmsCheck(w http.ResponseWriter, r request) {
	var active []string
	if a.alarms != nil {
		active = a.alarms()
	}
	if len(active) > 0 {
		httpx.JSON(w, http.StatusServiceUnavailable, map[string]any{"status": "failed",
			"reason": "resource alarm(s) in effect: " + strings.Join(active, ", "), "alarms": active})
		return
	}
	httpx.JSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// aliveness answers GET /api/aliveness-test/{vhost}: declares the queue
// aliveness-test, publishes a message to it and gets it back.
func (a *API) aliveness(w http.ResponseWriter, r request) {
	v, _, ok := a.vhostFor(w, r)
	if !ok {
		return
	}
	const name = "aliveness-test"
	q, err := v.DeclareQueue(vhost.QueueDecl{Name: name})
	if err != nil {
		writeModelError(w, err)
		return
	}
	stored := make(chan error, 1)
	if _, err := v.Publish(&vhost.Publishing{RoutingKey: name, Properties: []byte{0, 0}, Expiration: -1, Body: []byte("test")},
		func(err error) { stored <- err }); err != nil {
		writeModelError(w, err)
		return
	}
	if err := <-stored; err != nil {
		httpx.JSON(w, http.StatusServiceUnavailable, map[string]string{"status": "failed", "reason": err.Error()})
		return
	}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		_, m, _, _, _, err := q.Sub().Get(true)
		if err == nil && m != nil {
			break
		}
		if err != nil || time.Now().After(deadline) {
			httpx.JSON(w, http.StatusServiceUnavailable, map[string]string{"status": "failed", "reason": "the test message did not come back"})
			return
		}
	}
	httpx.JSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// listVhosts answers GET /api/vhosts.
func (a *API) listVhosts(w http.ResponseWriter, r request) {
	out := []map[string]any{}
	for _, v := range a.users.Vhosts() {
		if a.auth.CanUseVhost(r.user, v.Name) {
			out = append(out, a.vhostJSON(v))
		}
	}
	httpx.JSON(w, http.StatusOK, out)
}

func (a *API) vhostJSON(v *auth.Vhost) map[string]any {
	var ready, unacked int
	for _, q := range a.hosts.Get(v.Name).Queues() {
		ready += q.Ready
		unacked += q.Unacked
	}
	return map[string]any{"name": v.Name, "description": v.Description, "tags": v.Tags,
		"messages": ready + unacked, "messages_ready": ready, "messages_unacknowledged": unacked}
}

// getVhost answers GET /api/vhosts/{vhost}.
func (a *API) getVhost(w http.ResponseWriter, r request) {
	if _, _, ok := a.vhostFor(w, r); !ok {
		return
	}
	v, _ := a.users.Vhost(r.PathValue("vhost"))
	httpx.JSON(w, http.StatusOK, a.vhostJSON(v))
}

// putVhost answers PUT /api/vhosts/{vhost}: 201 made, 204 updated.
func (a *API) putVhost(w http.ResponseWriter, r request) {
	name := r.PathValue("vhost")
	var body struct {
		Description string `json:"description"`
		Tags        any    `json:"tags"`
	}
	if r.ContentLength != 0 && !httpx.ReadJSON(w, r.Request, &body) {
		return
	}
	tags, err := tagList(body.Tags)
	if err != nil {
		httpx.Error(w, http.StatusBadRequest, "bad_request", err.Error())
		return
	}
	if _, existed := a.users.Vhost(name); existed {
		w.WriteHeader(http.StatusNoContent) // as it is: its description and tags stay
		return
	}
	if err := a.users.AddVhost(r.Context(), name, body.Description, tags); err != nil {
		writeAuthError(w, err)
		return
	}
	w.WriteHeader(http.StatusCreated)
}

// deleteVhost answers DELETE /api/vhosts/{vhost}: its queues, exchanges,
// policies and permissions go too.
func (a *API) deleteVhost(w http.ResponseWriter, r request) {
	name := r.PathValue("vhost")
	if _, ok := a.users.Vhost(name); !ok {
		httpx.Error(w, http.StatusNotFound, "Object Not Found", fmt.Sprintf("no vhost '%s'", name))
		return
	}
	if err := a.hosts.Delete(name); err != nil {
		writeModelError(w, err)
		return
	}
	if err := a.users.DeleteVhost(r.Context(), name); err != nil {
		writeAuthError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// tagList reads tags as RabbitMQ's API takes them: a comma-separated
// string, or (newer versions) a list.
func tagList(v any) ([]string, error) {
	switch t := v.(type) {
	case nil:
		return []string{}, nil
	case string:
		var out []string
		for _, s := range strings.Split(t, ",") {
			if s = strings.TrimSpace(s); s != "" {
				out = append(out, s)
			}
		}
		return out, nil
	case []any:
		out := make([]string, 0, len(t))
		for _, e := range t {
			s, ok := e.(string)
			if !ok {
				return nil, fmt.Errorf("tags: %v is not a string", e)
			}
			out = append(out, s)
		}
		return out, nil
	}
	return nil, fmt.Errorf("tags: a string or a list of strings")
}

func userJSON(u *auth.User) map[string]any {
	return map[string]any{"name": u.Name, "password_hash": u.PasswordHash,
		"hashing_algorithm": u.HashingAlgorithm, "tags": u.Tags}
}

// listUsers answers GET /api/users.
func (a *API) listUsers(w http.ResponseWriter, r request) {
	out := []map[string]any{}
	for _, u := range a.users.Users() {
		out = append(out, userJSON(u))
	}
	httpx.JSON(w, http.StatusOK, out)
}

// getUser answers GET /api/users/{name}.
func (a *API) getUser(w http.ResponseWriter, r request) {
	u, ok := a.users.User(r.PathValue("name"))
	if !ok {
		httpx.Error(w, http.StatusNotFound, "Object Not Found", "no such user")
		return
	}
	httpx.JSON(w, http.StatusOK, userJSON(u))
}

// putUser answers PUT /api/users/{name}: with a password (or a
// password_hash and hashing_algorithm, as definitions carry them) and
// tags; 201 made, 204 updated.
func (a *API) putUser(w http.ResponseWriter, r request) {
	name := r.PathValue("name")
	var body struct {
		Password         *string `json:"password"`
		PasswordHash     *string `json:"password_hash"`
		HashingAlgorithm string  `json:"hashing_algorithm"`
		Tags             any     `json:"tags"`
	}
	if !httpx.ReadJSON(w, r.Request, &body) {
		return
	}
	tags, err := tagList(body.Tags)
	if err != nil {
		httpx.Error(w, http.StatusBadRequest, "bad_request", err.Error())
		return
	}
	if err := a.setUser(r.Context(), name, body.Password, body.PasswordHash, body.HashingAlgorithm, tags); err != nil {
		writeAuthError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// setUser makes or updates a user.
func (a *API) setUser(ctx context.Context, name string, password, hash *string, algorithm string, tags []string) error {
	if _, ok := a.users.User(name); !ok {
		pw := ""
		if password != nil {
			pw = *password
		}
		if err := a.users.AddUser(ctx, name, pw, tags); err != nil {
			return err
		}
	} else {
		if err := a.users.SetTags(ctx, name, tags); err != nil {
			return err
		}
		if password != nil {
			if err := a.users.SetPassword(ctx, name, *password); err != nil {
				return err
			}
		}
	}
	if hash != nil && password == nil {
		if algorithm == "" {
			algorithm = "rabbit_password_hashing_sha256"
		}
		return a.users.SetPasswordHash(ctx, name, *hash, algorithm)
	}
	return nil
}

// deleteUser answers DELETE /api/users/{name}.
func (a *API) deleteUser(w http.ResponseWriter, r request) {
	if err := a.users.DeleteUser(r.Context(), r.PathValue("name")); err != nil {
		writeAuthError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// listPermissions answers GET /api/permissions.
func (a *API) listPermissions(w http.ResponseWriter, r request) {
	out := a.users.ListPermissions()
	if out == nil {
		out = []auth.Permission{}
	}
	httpx.JSON(w, http.StatusOK, out)
}

// getPermission answers GET /api/permissions/{vhost}/{user}.
func (a *API) getPermission(w http.ResponseWriter, r request) {
	p, ok := a.users.Permissions(r.PathValue("user"), r.PathValue("vhost"))
	if !ok {
		httpx.Error(w, http.StatusNotFound, "Object Not Found", "no such permission")
		return
	}
	httpx.JSON(w, http.StatusOK, auth.Permission{User: r.PathValue("user"), Vhost: r.PathValue("vhost"), Permissions: p})
}

// putPermission answers PUT /api/permissions/{vhost}/{user}.
func (a *API) putPermission(w http.ResponseWriter, r request) {
	var p auth.Permissions
	if !httpx.ReadJSON(w, r.Request, &p) {
		return
	}
	_, existed := a.users.Permissions(r.PathValue("user"), r.PathValue("vhost"))
	if err := a.users.SetPermissions(r.Context(), r.PathValue("user"), r.PathValue("vhost"), p); err != nil {
		writeAuthError(w, err)
		return
	}
	created(w, existed)
}

// deletePermission answers DELETE /api/permissions/{vhost}/{user}.
func (a *API) deletePermission(w http.ResponseWriter, r request) {
	if err := a.users.ClearPermissions(r.Context(), r.PathValue("user"), r.PathValue("vhost")); err != nil {
		writeAuthError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// writeAuthError answers an error of the auth store: unknown names 404,
// invalid input 400.
func writeAuthError(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, auth.ErrNotFound):
		httpx.Error(w, http.StatusNotFound, "Object Not Found", err.Error())
	case errors.Is(err, auth.ErrBadName), errors.Is(err, auth.ErrBadHash), errors.Is(err, auth.ErrBadPattern),
		errors.Is(err, auth.ErrExists):
		httpx.Error(w, http.StatusBadRequest, "bad_request", err.Error())
	default:
		httpx.Error(w, http.StatusServiceUnavailable, "unavailable", err.Error())
	}
}
