package httpapi

import (
	"fmt"
	"net"
	"net/http"
	"slices"
	"strconv"

	"github.com/loftmq/loft/internal/amqp"
	"github.com/loftmq/loft/internal/auth"
	"github.com/loftmq/loft/internal/httpx"
)

// Inspector is what the API sees of the AMQP listener.
type Inspector interface {
	Connections() []amqp.ConnInfo
	Channels() []amqp.ChannelInfo
	Consumers() []amqp.ConsumerInfo
	CloseConnection(name, reason string) bool
}

// SetAMQP gives the API the AMQP listener, once it is up.
func (a *API) SetAMQP(i Inspector) { a.amqp.Store(&i) }

// inspector returns the AMQP listener, or nil before it is up (or when
// it is disabled).
func (a *API) inspector() Inspector {
	if p := a.amqp.Load(); p != nil {
		return *p
	}
	return nil
}

// seesAll says whether u sees every user's connections: administrators
// and monitoring users do; others see their own, as in RabbitMQ.
func seesAll(u *auth.User) bool { return u.HasTag("administrator") || u.HasTag("monitoring") }

func hostPort(addr string) (string, int) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr, 0
	}
	n, _ := strconv.Atoi(port)
	return host, n
}

func connJSON(c amqp.ConnInfo) map[string]any {
	peerHost, peerPort := hostPort(c.Peer)
	host, port := hostPort(c.Local)
	return map[string]any{
		"name": c.Name, "user": c.User, "vhost": c.Vhost, "protocol": "AMQP 0-9-1", "state": "running",
		"peer_host": peerHost, "peer_port": peerPort, "host": host, "port": port,
		"channels": c.Channels, "connected_at": c.ConnectedAt.UnixMilli(), "timeout": int(c.Heartbeat.Seconds()),
		"frame_max": c.FrameMax, "channel_max": c.ChannelMax,
		"client_properties": map[string]any{"product": c.Client},
	}
}

// listConnections answers GET /api/connections.
func (a *API) listConnections(w http.ResponseWriter, r request) {
	out := []map[string]any{}
	if in := a.inspector(); in != nil {
		for _, c := range in.Connections() {
			if seesAll(r.user) || c.User == r.user.Name {
				out = append(out, connJSON(c))
			}
		}
	}
	httpx.JSON(w, http.StatusOK, out)
}

// getConnection answers GET /api/connections/{name}.
func (a *API) getConnection(w http.ResponseWriter, r request) {
	if in := a.inspector(); in != nil {
		for _, c := range in.Connections() {
			if c.Name == r.PathValue("name") && (seesAll(r.user) || c.User == r.user.Name) {
				httpx.JSON(w, http.StatusOK, connJSON(c))
				return
			}
		}
	}
	httpx.Error(w, http.StatusNotFound, "Object Not Found", "no such connection")
}

// closeConnection answers DELETE /api/connections/{name}: connection.close
// 320 with the X-Reason header's text, as RabbitMQ does.
func (a *API) closeConnection(w http.ResponseWriter, r request) {
	in := a.inspector()
	name := r.PathValue("name")
	mine := false
	if in != nil {
		for _, c := range in.Connections() {
			mine = mine || (c.Name == name && (seesAll(r.user) || c.User == r.user.Name))
		}
	}
	reason := r.Header.Get("X-Reason")
	if reason == "" {
		reason = "Closed via management plugin"
	}
	if !mine || !in.CloseConnection(name, reason) {
		httpx.Error(w, http.StatusNotFound, "Object Not Found", "no such connection")
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// listChannels answers GET /api/channels.
func (a *API) listChannels(w http.ResponseWriter, r request) {
	out := []map[string]any{}
	if in := a.inspector(); in != nil {
		for _, ch := range in.Channels() {
			if !seesAll(r.user) && ch.User != r.user.Name {
				continue
			}
			out = append(out, map[string]any{
				"name": fmt.Sprintf("%s (%d)", ch.Connection, ch.Number), "number": ch.Number,
				"user": ch.User, "vhost": ch.Vhost, "connection_details": map[string]any{"name": ch.Connection},
				"consumer_count": ch.Consumers, "messages_unacknowledged": ch.Unacked,
				"prefetch_count": ch.Prefetch, "confirm": ch.Confirm, "state": "running",
			})
		}
	}
	httpx.JSON(w, http.StatusOK, out)
}

// listConsumers answers GET /api/consumers[/{vhost}].
func (a *API) listConsumers(w http.ResponseWriter, r request) {
	names, ok := a.vhostsFor(w, r)
	if !ok {
		return
	}
	out := []map[string]any{}
	if in := a.inspector(); in != nil {
		for _, c := range in.Consumers() {
			if !slices.Contains(names, c.Vhost) {
				continue
			}
			out = append(out, map[string]any{
				"consumer_tag": c.Tag, "queue": map[string]any{"name": c.Queue, "vhost": c.Vhost},
				"channel_details": map[string]any{"name": fmt.Sprintf("%s (%d)", c.Connection, c.Channel),
					"number": c.Channel, "connection_name": c.Connection},
				"ack_required": c.AckRequired, "prefetch_count": c.Prefetch,
			})
		}
	}
	httpx.JSON(w, http.StatusOK, out)
}
