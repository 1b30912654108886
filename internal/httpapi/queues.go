package httpapi

import (
	"fmt"
	"net/http"

	"github.com/loftmq/loft/internal/amqp/frame"
	"github.com/loftmq/loft/internal/httpx"
)

// getQueue answers GET /api/queues/{vhost}/{name} with the fields of
// RabbitMQ's answer that Loft has.
func (a *API) getQueue(w http.ResponseWriter, r request) {
	v, vname, ok := a.vhostFor(w, r)
	if !ok {
		return
	}
	q, ok := v.Lookup(r.PathValue("name"))
	if !ok {
		httpx.Error(w, http.StatusNotFound, "Object Not Found", fmt.Sprintf("no queue '%s' in vhost '%s'", r.PathValue("name"), vname))
		return
	}
	kind := "classic"
	if t, ok := q.Args.Get("x-queue-type"); ok {
		kind = fmt.Sprint(t)
	}
	var policy any
	def := map[string]any{}
	if q.Policy != "" {
		policy = q.Policy
		for _, p := range v.Policies() {
			if p.Name == q.Policy {
				def = p.Definition
			}
		}
	}
	httpx.JSON(w, http.StatusOK, map[string]any{
		"name": q.Name, "vhost": vname, "durable": q.Durable, "auto_delete": q.AutoDelete,
		"exclusive": q.Exclusive, "arguments": tableJSON(q.Args), "type": kind,
		"policy": policy, "effective_policy_definition": def,
		"messages": q.Ready + q.Unacked, "messages_ready": q.Ready, "messages_unacknowledged": q.Unacked,
		"consumers": q.Consumers,
	})
}

// tableJSON turns a field table into a JSON object.
func tableJSON(t frame.Table) map[string]any {
	out := make(map[string]any, len(t))
	for _, f := range t {
		switch v := f.Value.(type) {
		case frame.Table:
			out[f.Key] = tableJSON(v)
		default:
			out[f.Key] = v
		}
	}
	return out
}
