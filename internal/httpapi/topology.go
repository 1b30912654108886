package httpapi

import (
	"encoding/base64"
	"fmt"
	"hash/fnv"
	"maps"
	"net/http"
	"slices"
	"unicode/utf8"

	"github.com/loftmq/loft/internal/amqp/frame"
	"github.com/loftmq/loft/internal/auth"
	"github.com/loftmq/loft/internal/httpx"
	"github.com/loftmq/loft/internal/queue"
	"github.com/loftmq/loft/internal/vhost"
)

// vhostsFor returns the vhosts a list request covers: the one in its path,
// or every vhost the user may use.
func (a *API) vhostsFor(w http.ResponseWriter, r request) ([]string, bool) {
	if r.PathValue("vhost") != "" {
		_, name, ok := a.vhostFor(w, r)
		return []string{name}, ok
	}
	var names []string
	for _, v := range a.users.Vhosts() {
		if a.auth.CanUseVhost(r.user, v.Name) {
			names = append(names, v.Name)
		}
	}
	return names, true
}

// check answers 403 unless the user has perm on res in vhost, as AMQP
// checks it; administrators too, as in RabbitMQ.
func (a *API) check(w http.ResponseWriter, r request, vhostName string, res auth.Resource, perm auth.Perm) bool {
	if err := a.users.Check(r.user.Name, vhostName, res, perm); err != nil {
		httpx.Error(w, http.StatusForbidden, "not_authorized", err.Error())
		return false
	}
	return true
}

func (a *API) queueJSON(vname string, q vhost.QueueView) map[string]any {
	kind := "classic"
	if t, ok := q.Args.Get("x-queue-type"); ok {
		kind = fmt.Sprint(t)
	}
	var policy any
	if q.Policy != "" {
		policy = q.Policy
	}
	return map[string]any{
		"name": q.Name, "vhost": vname, "durable": q.Durable, "auto_delete": q.AutoDelete,
		"exclusive": q.Exclusive, "arguments": tableJSON(q.Args), "type": kind, "policy": policy,
		"messages": q.Ready + q.Unacked, "messages_ready": q.Ready, "messages_unacknowledged": q.Unacked,
		"consumers": q.Consumers, "state": "running",
		"message_stats": a.rates.messageStats(vname, q.Name, q.Totals, q.HasTotals),
	}
}

// listQueues answers GET /api/queues[/{vhost}].
func (a *API) listQueues(w http.ResponseWriter, r request) {
	names, ok := a.vhostsFor(w, r)
	if !ok {
		return
	}
	out := []map[string]any{}
	for _, name := range names {
		for _, q := range a.hosts.Get(name).Queues() {
			out = append(out, a.queueJSON(name, q))
		}
	}
	httpx.JSON(w, http.StatusOK, out)
}

// getQueue answers GET /api/queues/{vhost}/{name}, with the policy's
// definition as RabbitMQ adds it.
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
	out := a.queueJSON(vname, q)
	def := map[string]any{}
	for _, p := range v.Policies() {
		if p.Name == q.Policy {
			def = p.Definition
		}
	}
	out["effective_policy_definition"] = def
	httpx.JSON(w, http.StatusOK, out)
}

// putQueue answers PUT /api/queues/{vhost}/{name}: declares the queue
// (201), or checks an existing one is equivalent (204).
func (a *API) putQueue(w http.ResponseWriter, r request) {
	v, vname, ok := a.vhostFor(w, r)
	if !ok {
		return
	}
	name := r.PathValue("name")
	if !a.check(w, r, vname, auth.Queue(name), auth.Configure) {
		return
	}
	var body struct {
		Durable    *bool          `json:"durable"`
		AutoDelete bool           `json:"auto_delete"`
		Arguments  map[string]any `json:"arguments"`
	}
	if !httpx.ReadJSON(w, r.Request, &body) {
		return
	}
	args, err := jsonTable(body.Arguments)
	if err != nil {
		httpx.Error(w, http.StatusBadRequest, "bad_request", "arguments: "+err.Error())
		return
	}
	_, existed := v.Lookup(name)
	durable := body.Durable == nil || *body.Durable
	if _, err := v.DeclareQueue(vhost.QueueDecl{Name: name, Durable: durable, AutoDelete: body.AutoDelete, Args: args}); err != nil {
		writeModelError(w, err)
		return
	}
	created(w, existed)
}

// deleteQueue answers DELETE /api/queues/{vhost}/{name}[?if-empty=true&if-unused=true].
func (a *API) deleteQueue(w http.ResponseWriter, r request) {
	v, vname, ok := a.vhostFor(w, r)
	if !ok {
		return
	}
	name := r.PathValue("name")
	if !a.check(w, r, vname, auth.Queue(name), auth.Configure) {
		return
	}
	if _, ok := v.Lookup(name); !ok {
		httpx.Error(w, http.StatusNotFound, "Object Not Found", fmt.Sprintf("no queue '%s' in vhost '%s'", name, vname))
		return
	}
	q := r.URL.Query()
	if _, err := v.DeleteQueue(name, q.Get("if-unused") == "true", q.Get("if-empty") == "true", 0); err != nil {
		writeModelError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// purgeQueue answers DELETE /api/queues/{vhost}/{name}/contents.
func (a *API) purgeQueue(w http.ResponseWriter, r request) {
	v, vname, ok := a.vhostFor(w, r)
	if !ok {
		return
	}
	name := r.PathValue("name")
	if !a.check(w, r, vname, auth.Queue(name), auth.Read) {
		return
	}
	if _, err := v.PurgeQueue(name, 0); err != nil {
		writeModelError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// getMessages answers POST /api/queues/{vhost}/{name}/get: takes up to
// count messages with basic.get, then acks or rejects them as ackmode
// says, as RabbitMQ's management API does (for diagnosis, not
// consumption).
func (a *API) getMessages(w http.ResponseWriter, r request) {
	v, vname, ok := a.vhostFor(w, r)
	if !ok {
		return
	}
	name := r.PathValue("name")
	if !a.check(w, r, vname, auth.Queue(name), auth.Read) {
		return
	}
	var body struct {
		Count    int    `json:"count"`
		AckMode  string `json:"ackmode"`
		Encoding string `json:"encoding"`
		Truncate int    `json:"truncate"`
	}
	if !httpx.ReadJSON(w, r.Request, &body) {
		return
	}
	if body.Count <= 0 || body.Count > 1000 {
		httpx.Error(w, http.StatusBadRequest, "bad_request", "count: from 1 to 1000")
		return
	}
	requeue, reject := false, false
	switch body.AckMode {
	case "ack_requeue_true", "reject_requeue_true":
		requeue = true
	case "ack_requeue_false":
	case "reject_requeue_false":
		reject = true
	default:
		httpx.Error(w, http.StatusBadRequest, "bad_request", "ackmode: ack_requeue_true, ack_requeue_false, reject_requeue_true or reject_requeue_false")
		return
	}
	if body.Encoding != "" && body.Encoding != "auto" && body.Encoding != "base64" {
		httpx.Error(w, http.StatusBadRequest, "bad_request", "encoding: auto or base64")
		return
	}
	q, err := v.Queue(name, 0)
	if err != nil {
		writeModelError(w, err)
		return
	}
	if q.IsStream() {
		httpx.Error(w, http.StatusBadRequest, "bad_request", "a stream queue is read from an offset: use /api/v1/topics")
		return
	}
	out := []map[string]any{}
	back := map[*queue.Queue][]int64{} // requeued after the loop: each message is taken once
	defer func() {
		for q, offsets := range back {
			q.Requeue(offsets...)
		}
	}()
	for range body.Count {
		from, m, redelivered, _, left, err := q.Sub().Get(false)
		if err != nil {
			writeModelError(w, err)
			return
		}
		if m == nil {
			break
		}
		switch {
		case requeue:
			back[from] = append(back[from], m.Offset)
		case reject:
			from.Reject(m.Offset)
		default:
			from.Ack(m.Offset)
		}
		props, _ := frame.DecodeProperties(m.Properties)
		payload, enc := string(m.Body), "string"
		if body.Encoding == "base64" || !utf8.Valid(m.Body) {
			payload, enc = base64.StdEncoding.EncodeToString(m.Body), "base64"
		}
		if body.Truncate > 0 && len(payload) > body.Truncate {
			payload = payload[:body.Truncate]
		}
		out = append(out, map[string]any{
			"payload_bytes": len(m.Body), "redelivered": redelivered, "exchange": m.Exchange,
			"routing_key": m.RoutingKey, "message_count": left, "properties": fromProperties(props),
			"payload": payload, "payload_encoding": enc,
		})
	}
	httpx.JSON(w, http.StatusOK, out)
}

func exchangeJSON(vname string, x vhost.ExchangeView) map[string]any {
	var policy any
	if x.Policy != "" {
		policy = x.Policy
	}
	return map[string]any{
		"name": x.Name, "vhost": vname, "type": x.Type, "durable": x.Durable, "auto_delete": x.AutoDelete,
		"internal": x.Internal, "arguments": tableJSON(x.Args), "policy": policy,
	}
}

// listExchanges answers GET /api/exchanges[/{vhost}].
func (a *API) listExchanges(w http.ResponseWriter, r request) {
	names, ok := a.vhostsFor(w, r)
	if !ok {
		return
	}
	out := []map[string]any{}
	for _, name := range names {
		for _, x := range a.hosts.Get(name).Exchanges() {
			out = append(out, exchangeJSON(name, x))
		}
	}
	httpx.JSON(w, http.StatusOK, out)
}

// getExchange answers GET /api/exchanges/{vhost}/{name}; the default
// exchange is named amq.default in paths, as in RabbitMQ.
func (a *API) getExchange(w http.ResponseWriter, r request) {
	v, vname, ok := a.vhostFor(w, r)
	if !ok {
		return
	}
	name := exchangeName(r.PathValue("name"))
	i := slices.IndexFunc(v.Exchanges(), func(x vhost.ExchangeView) bool { return x.Name == name })
	if i < 0 {
		httpx.Error(w, http.StatusNotFound, "Object Not Found", fmt.Sprintf("no exchange '%s' in vhost '%s'", name, vname))
		return
	}
	httpx.JSON(w, http.StatusOK, exchangeJSON(vname, v.Exchanges()[i]))
}

func exchangeName(path string) string {
	if path == "amq.default" {
		return ""
	}
	return path
}

// putExchange answers PUT /api/exchanges/{vhost}/{name}.
func (a *API) putExchange(w http.ResponseWriter, r request) {
	v, vname, ok := a.vhostFor(w, r)
	if !ok {
		return
	}
	name := r.PathValue("name")
	if !a.check(w, r, vname, auth.Exchange(name), auth.Configure) {
		return
	}
	var body struct {
		Type       string         `json:"type"`
		Durable    *bool          `json:"durable"`
		AutoDelete bool           `json:"auto_delete"`
		Internal   bool           `json:"internal"`
		Arguments  map[string]any `json:"arguments"`
	}
	if !httpx.ReadJSON(w, r.Request, &body) {
		return
	}
	if body.Type == "" {
		httpx.Error(w, http.StatusBadRequest, "bad_request", "an exchange needs a type")
		return
	}
	args, err := jsonTable(body.Arguments)
	if err != nil {
		httpx.Error(w, http.StatusBadRequest, "bad_request", "arguments: "+err.Error())
		return
	}
	_, existed := v.Exchange(name)
	durable := body.Durable == nil || *body.Durable
	err = v.DeclareExchange(vhost.ExchangeDecl{Name: name, Type: body.Type, Durable: durable,
		AutoDelete: body.AutoDelete, Internal: body.Internal, Args: args})
	if err != nil {
		writeModelError(w, err)
		return
	}
	created(w, existed)
}

// deleteExchange answers DELETE /api/exchanges/{vhost}/{name}[?if-unused=true].
func (a *API) deleteExchange(w http.ResponseWriter, r request) {
	v, vname, ok := a.vhostFor(w, r)
	if !ok {
		return
	}
	name := exchangeName(r.PathValue("name"))
	if !a.check(w, r, vname, auth.Exchange(name), auth.Configure) {
		return
	}
	if _, ok := v.Exchange(name); !ok {
		httpx.Error(w, http.StatusNotFound, "Object Not Found", fmt.Sprintf("no exchange '%s' in vhost '%s'", name, vname))
		return
	}
	if err := v.DeleteExchange(name, r.URL.Query().Get("if-unused") == "true"); err != nil {
		writeModelError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// publish answers POST /api/exchanges/{vhost}/{name}/publish with
// {"routed": bool}, once the message is stored where it was routed.
func (a *API) publish(w http.ResponseWriter, r request) {
	v, vname, ok := a.vhostFor(w, r)
	if !ok {
		return
	}
	name := exchangeName(r.PathValue("name"))
	if !a.check(w, r, vname, auth.Exchange(name), auth.Write) {
		return
	}
	var body struct {
		Properties      propertiesJSON `json:"properties"`
		RoutingKey      string         `json:"routing_key"`
		Payload         string         `json:"payload"`
		PayloadEncoding string         `json:"payload_encoding"`
	}
	if !httpx.ReadJSON(w, r.Request, &body) {
		return
	}
	payload := []byte(body.Payload)
	switch body.PayloadEncoding {
	case "", "string":
	case "base64":
		var err error
		if payload, err = base64.StdEncoding.DecodeString(body.Payload); err != nil {
			httpx.Error(w, http.StatusBadRequest, "bad_request", "payload is not base64")
			return
		}
	default:
		httpx.Error(w, http.StatusBadRequest, "bad_request", "payload_encoding: string or base64")
		return
	}
	props, err := toProperties(body.Properties)
	if err != nil {
		httpx.Error(w, http.StatusBadRequest, "bad_request", "properties: "+err.Error())
		return
	}
	encoded, err := frame.AppendProperties(nil, &props)
	if err != nil {
		httpx.Error(w, http.StatusBadRequest, "bad_request", "properties: "+err.Error())
		return
	}
	expiration := int64(-1)
	if props.Expiration != "" {
		fmt.Sscan(props.Expiration, &expiration)
	}
	p := &vhost.Publishing{Exchange: name, RoutingKey: body.RoutingKey, Properties: encoded, Headers: props.Headers,
		Persistent: props.DeliveryMode == 2, MessageID: props.MessageID, Expiration: expiration,
		Priority: props.Priority, Body: payload}
	stored := make(chan error, 1)
	n, err := v.Publish(p, func(err error) { stored <- err })
	if err != nil {
		writeModelError(w, err)
		return
	}
	if n > 0 {
		if err := <-stored; err != nil {
			httpx.Error(w, http.StatusServiceUnavailable, "unavailable", "not stored: "+err.Error())
			return
		}
	}
	httpx.JSON(w, http.StatusOK, map[string]bool{"routed": n > 0})
}

func bindingJSON(vname string, b vhost.BindingView) map[string]any {
	args := b.Args
	if args == nil {
		args = map[string]any{}
	}
	dest := b.Destination
	if b.DestType == "topic" {
		dest = vhost.TopicPrefix + dest
	}
	kind := b.DestType
	if kind == "topic" {
		kind = "queue" // bound with queue.bind; the name says it is a topic
	}
	return map[string]any{
		"source": b.Source, "vhost": vname, "destination": dest, "destination_type": kind,
		"routing_key": b.Key, "arguments": args, "properties_key": propertiesKey(b.Key, args),
	}
}

// propertiesKey names a binding in paths, as RabbitMQ does: its routing
// key ("~" when empty), then "~" and a hash of its arguments if it has
// any.
func propertiesKey(key string, args map[string]any) string {
	if len(args) == 0 {
		if key == "" {
			return "~"
		}
		return key
	}
	h := fnv.New32a()
	for _, k := range slices.Sorted(maps.Keys(args)) {
		fmt.Fprintf(h, "%s=%v;", k, args[k])
	}
	return fmt.Sprintf("%s~%x", key, h.Sum32())
}

// listBindings answers GET /api/bindings[/{vhost}], and the bindings
// between two objects, GET /api/bindings/{vhost}/e/{source}/{q|e}/{dest}.
func (a *API) listBindings(w http.ResponseWriter, r request) {
	names, ok := a.vhostsFor(w, r)
	if !ok {
		return
	}
	source, dest, kind := exchangeName(r.PathValue("source")), r.PathValue("dest"), r.PathValue("kind")
	out := []map[string]any{}
	for _, name := range names {
		for _, b := range a.hosts.Get(name).Bindings() {
			j := bindingJSON(name, b)
			if kind != "" && (b.Source != source || j["destination"] != dest || (kind == "q") != (j["destination_type"] == "queue")) {
				continue
			}
			out = append(out, j)
		}
	}
	httpx.JSON(w, http.StatusOK, out)
}

// bindingTarget reads a binding's two ends from the path.
func (a *API) bindingTarget(w http.ResponseWriter, r request) (v *vhost.Vhost, vname, source, dest string, toQueue, ok bool) {
	if v, vname, ok = a.vhostFor(w, r); !ok {
		return
	}
	source, dest = exchangeName(r.PathValue("source")), r.PathValue("dest")
	switch r.PathValue("kind") {
	case "q":
		toQueue = true
	case "e":
	default:
		httpx.Error(w, http.StatusNotFound, "Object Not Found", "Not Found")
		return nil, "", "", "", false, false
	}
	destRes := auth.Exchange(dest)
	if toQueue {
		destRes = auth.Queue(dest)
	}
	if !a.check(w, r, vname, auth.Exchange(source), auth.Read) || !a.check(w, r, vname, destRes, auth.Write) {
		return nil, "", "", "", false, false
	}
	return v, vname, source, dest, toQueue, true
}

// postBinding answers POST /api/bindings/{vhost}/e/{source}/{q|e}/{dest}
// with 201 and the new binding's location.
func (a *API) postBinding(w http.ResponseWriter, r request) {
	v, _, source, dest, toQueue, ok := a.bindingTarget(w, r)
	if !ok {
		return
	}
	var body struct {
		RoutingKey string         `json:"routing_key"`
		Arguments  map[string]any `json:"arguments"`
	}
	if !httpx.ReadJSON(w, r.Request, &body) {
		return
	}
	args, err := jsonTable(body.Arguments)
	if err != nil {
		httpx.Error(w, http.StatusBadRequest, "bad_request", "arguments: "+err.Error())
		return
	}
	if toQueue {
		err = v.BindQueue(dest, source, body.RoutingKey, args, 0)
	} else {
		err = v.BindExchange(dest, source, body.RoutingKey, args)
	}
	if err != nil {
		writeModelError(w, err)
		return
	}
	w.Header().Set("Location", propertiesKey(body.RoutingKey, args.Map()))
	w.WriteHeader(http.StatusCreated)
}

// deleteBinding answers DELETE /api/bindings/{vhost}/e/{source}/{q|e}/{dest}/{props}.
func (a *API) deleteBinding(w http.ResponseWriter, r request) {
	v, vname, source, dest, toQueue, ok := a.bindingTarget(w, r)
	if !ok {
		return
	}
	for _, b := range v.Bindings() {
		j := bindingJSON(vname, b)
		if b.Source != source || j["destination"] != dest || (j["destination_type"] == "queue") != toQueue ||
			j["properties_key"] != r.PathValue("props") {
			continue
		}
		args := tableOf(b.Args)
		var err error
		if toQueue {
			err = v.UnbindQueue(dest, source, b.Key, args, 0)
		} else {
			err = v.UnbindExchange(dest, source, b.Key, args)
		}
		if err != nil {
			writeModelError(w, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
		return
	}
	httpx.Error(w, http.StatusNotFound, "Object Not Found", "no such binding")
}

// created answers 204 for an object that existed, 201 for a new one.
func created(w http.ResponseWriter, existed bool) {
	if existed {
		w.WriteHeader(http.StatusNoContent)
	} else {
		w.WriteHeader(http.StatusCreated)
	}
}
