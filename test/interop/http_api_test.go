package interop

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/loftmq/loft/internal/loftproc"
)

// apiAs sends one request to Loft's HTTP API as user and decodes a JSON
// answer into out (when not nil); it returns the status.
func apiAs(t *testing.T, p *loftproc.Process, user, pass, method, path, body string, out any) int {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+p.HTTP+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(user, pass)
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 400 && (!json.Valid(b) || !strings.Contains(string(b), `"reason"`)) {
		t.Errorf("%s %s: %d without a JSON reason: %s", method, path, resp.StatusCode, b)
	}
	if out != nil && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %v in %s", method, path, err, b)
		}
	}
	return resp.StatusCode
}

// TestHTTPManagementAPI drives RabbitMQ's management endpoints as a
// script or rabbitmqadmin would: users, vhosts, permissions, exchanges,
// queues, bindings, publish and get, purge, overview and health, with
// authorization checked; then exports the definitions and imports them
// into a fresh broker, which ends with the same topology.
func TestHTTPManagementAPI(t *testing.T) {
	p := loftproc.Start(t, loftBin, filepath.Join(t.TempDir(), "data"))
	guest := func(method, path, body string, out any) int {
		t.Helper()
		return apiAs(t, p, "guest", "guest", method, path, body, out)
	}
	want := func(got, want int, what string) {
		t.Helper()
		if got != want {
			t.Fatalf("%s: %d, want %d", what, got, want)
		}
	}

	// Users, vhosts, permissions.
	want(guest("PUT", "/api/vhosts/shop", `{"description":"the shop"}`, nil), 201, "PUT vhost")
	want(guest("PUT", "/api/users/ann", `{"password":"secret","tags":"management"}`, nil), 204, "PUT user")
	want(guest("PUT", "/api/users/bob", `{"password":"secret","tags":[]}`, nil), 204, "PUT user without tags")
	want(guest("PUT", "/api/permissions/shop/ann", `{"configure":".*","write":".*","read":".*"}`, nil), 201, "PUT permission")
	var perms []map[string]string
	want(guest("GET", "/api/permissions", "", &perms), 200, "GET permissions")
	if !strings.Contains(mustJSON(perms), `"user":"ann"`) {
		t.Fatalf("permissions: %v", perms)
	}
	var who map[string]any
	want(apiAs(t, p, "ann", "secret", "GET", "/api/whoami", "", &who), 200, "whoami")
	if who["name"] != "ann" {
		t.Fatalf("whoami: %v", who)
	}
	want(apiAs(t, p, "ann", "wrong", "GET", "/api/whoami", "", nil), 401, "wrong password")
	want(apiAs(t, p, "bob", "secret", "GET", "/api/overview", "", nil), 403, "no management tag")
	want(apiAs(t, p, "ann", "secret", "GET", "/api/users", "", nil), 403, "not an administrator")
	want(apiAs(t, p, "ann", "secret", "GET", "/api/queues/%2F", "", nil), 403, "no permission on /")
	var vhosts []map[string]any
	want(apiAs(t, p, "ann", "secret", "GET", "/api/vhosts", "", &vhosts), 200, "GET vhosts as ann")
	if len(vhosts) != 1 || vhosts[0]["name"] != "shop" {
		t.Fatalf("ann sees vhosts %v, want only shop", vhosts)
	}

	// Topology, as ann in her vhost.
	ann := func(method, path, body string, out any) int {
		t.Helper()
		return apiAs(t, p, "ann", "secret", method, path, body, out)
	}
	want(ann("PUT", "/api/exchanges/shop/orders", `{"type":"topic","durable":true}`, nil), 201, "PUT exchange")
	want(ann("PUT", "/api/exchanges/shop/orders", `{"type":"topic","durable":true}`, nil), 204, "PUT same exchange")
	want(ann("PUT", "/api/exchanges/shop/orders", `{"type":"fanout","durable":true}`, nil), 400, "PUT inequivalent exchange")
	want(ann("PUT", "/api/queues/shop/billing", `{"durable":true,"arguments":{"x-max-length":100}}`, nil), 201, "PUT queue")
	want(ann("PUT", "/api/queues/shop/audit", `{"durable":true}`, nil), 201, "PUT second queue")
	want(ann("POST", "/api/bindings/shop/e/orders/q/billing", `{"routing_key":"order.*"}`, nil), 201, "POST binding")
	want(ann("POST", "/api/bindings/shop/e/orders/q/audit", `{"routing_key":"#","arguments":{"x-note":"all"}}`, nil), 201, "POST binding with arguments")
	var bindings []map[string]any
	want(ann("GET", "/api/bindings/shop/e/orders/q/billing", "", &bindings), 200, "GET bindings between")
	if len(bindings) != 1 || bindings[0]["routing_key"] != "order.*" || bindings[0]["properties_key"] != "order.*" {
		t.Fatalf("bindings between orders and billing: %v", bindings)
	}
	var routed map[string]bool
	publish := `{"routing_key":"order.created","payload":"hello","payload_encoding":"string","properties":{"delivery_mode":2,"message_id":"m1","headers":{"n":1}}}`
	want(ann("POST", "/api/exchanges/shop/orders/publish", publish, &routed), 200, "publish")
	if !routed["routed"] {
		t.Fatal("publish: not routed")
	}
	want(ann("POST", "/api/exchanges/shop/amq.direct/publish", `{"routing_key":"x","payload":"","payload_encoding":"string","properties":{}}`, &routed), 200, "publish unroutable")
	if routed["routed"] {
		t.Fatal("an unroutable publish said routed")
	}
	var q map[string]any
	want(ann("GET", "/api/queues/shop/billing", "", &q), 200, "GET queue")
	if q["messages"] != 1.0 || q["arguments"].(map[string]any)["x-max-length"] != 100.0 {
		t.Fatalf("queue: %v", q)
	}
	if st, _ := q["message_stats"].(map[string]any); st == nil || st["publish"] != 1.0 || st["publish_details"] == nil {
		t.Fatalf("message_stats: %v", q["message_stats"])
	}
	var msgs []map[string]any
	want(ann("POST", "/api/queues/shop/billing/get", `{"count":5,"ackmode":"ack_requeue_true","encoding":"auto"}`, &msgs), 200, "get")
	if len(msgs) != 1 || msgs[0]["payload"] != "hello" || msgs[0]["properties"].(map[string]any)["message_id"] != "m1" {
		t.Fatalf("get: %v", msgs)
	}
	want(ann("GET", "/api/queues/shop/billing", "", &q), 200, "GET queue after get")
	if q["messages_ready"] != 1.0 {
		t.Fatalf("requeued message not ready again: %v", q)
	}
	want(ann("DELETE", "/api/queues/shop/billing/contents", "", nil), 204, "purge")
	want(ann("GET", "/api/queues/shop/billing", "", &q), 200, "GET queue after purge")
	if q["messages"] != 0.0 {
		t.Fatalf("after purge: %v", q)
	}
	var all []map[string]any
	want(ann("GET", "/api/exchanges/shop", "", &all), 200, "GET exchanges")
	if !strings.Contains(mustJSON(all), `"name":"orders"`) || !strings.Contains(mustJSON(all), `"name":"amq.topic"`) {
		t.Fatalf("exchanges: %v", all)
	}
	want(ann("GET", "/api/queues/shop", "", &all), 200, "GET queues")
	if len(all) != 2 {
		t.Fatalf("queues: %v", all)
	}

	// Seen through AMQP too: the topology is the broker's.
	conn, err := amqp.DialConfig("amqp://ann:secret@"+p.AMQP+"/shop", amqp.Config{Dial: amqp.DefaultDial(5 * time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ch.QueueDeclarePassive("billing", true, false, false, false, amqp.Table{"x-max-length": int32(100)}); err != nil {
		t.Fatal(err)
	}
	conn.Close()

	// The single-object reads.
	for _, path := range []string{"/api/exchanges/shop/orders", "/api/exchanges/shop/amq.default", "/api/vhosts/shop",
		"/api/users", "/api/users/ann", "/api/permissions/shop/ann", "/api/bindings/shop", "/api/bindings",
		"/api/queues", "/api/exchanges", "/api/vhosts/%2F", "/api/channels", "/api/connections", "/api/consumers"} {
		var v any
		if code := guest("GET", path, "", &v); code != 200 || v == nil {
			t.Errorf("GET %s: %d %v", path, code, v)
		}
	}
	want(guest("GET", "/api/exchanges/shop/nosuch", "", nil), 404, "GET a missing exchange")
	want(guest("GET", "/api/users/nosuch", "", nil), 404, "GET a missing user")
	want(guest("GET", "/api/permissions/shop/nosuch", "", nil), 404, "GET a missing permission")

	// Overview, nodes, health.
	var ov map[string]any
	want(guest("GET", "/api/overview", "", &ov), 200, "overview")
	if ov["product_name"] != "Loft" || ov["object_totals"].(map[string]any)["queues"].(float64) < 2 {
		t.Fatalf("overview: %v", ov)
	}
	want(guest("GET", "/api/nodes", "", nil), 200, "nodes")
	want(guest("GET", "/api/health/checks/alarms", "", nil), 200, "alarms")
	var alive map[string]string
	want(guest("GET", "/api/aliveness-test/%2F", "", &alive), 200, "aliveness")
	if alive["status"] != "ok" {
		t.Fatalf("aliveness: %v", alive)
	}
	want(guest("PUT", "/api/policies/shop/short", `{"pattern":"^audit$","definition":{"message-ttl":60000}}`, nil), 201, "policy")

	// Definitions: export, import into a fresh broker, export again.
	var defs map[string]any
	want(guest("GET", "/api/definitions", "", &defs), 200, "export")
	raw := mustJSON(defs)
	p2 := loftproc.Start(t, loftBin, filepath.Join(t.TempDir(), "data2"))
	want(apiAs(t, p2, "guest", "guest", "POST", "/api/definitions", raw, nil), 204, "import")
	var defs2 map[string]any
	want(apiAs(t, p2, "guest", "guest", "GET", "/api/definitions", "", &defs2), 200, "export again")
	for _, k := range []string{"vhosts", "users", "permissions", "policies", "queues", "exchanges", "bindings"} {
		a, b := sorted(defs[k]), sorted(defs2[k])
		if !reflect.DeepEqual(a, b) {
			t.Errorf("%s after import:\n got %v\nwant %v", k, b, a)
		}
	}
	if want := 2; len(defs2["bindings"].([]any)) != want {
		t.Errorf("bindings: %v", defs2["bindings"])
	}
	// Ann can log in to the new broker with her password.
	want(apiAs(t, p2, "ann", "secret", "GET", "/api/whoami", "", nil), 200, "imported user")

	// Deleting.
	props := bindings[0]["properties_key"].(string)
	want(ann("DELETE", "/api/bindings/shop/e/orders/q/billing/"+props, "", nil), 204, "DELETE binding")
	want(ann("DELETE", "/api/bindings/shop/e/orders/q/billing/"+props, "", nil), 404, "DELETE binding again")
	want(ann("DELETE", "/api/exchanges/shop/orders", "", nil), 204, "DELETE exchange")
	want(ann("DELETE", "/api/queues/shop/billing", "", nil), 204, "DELETE queue")
	want(ann("DELETE", "/api/queues/shop/billing", "", nil), 404, "DELETE queue again")
	want(guest("DELETE", "/api/vhosts/shop", "", nil), 204, "DELETE vhost")
	want(guest("GET", "/api/queues/shop/audit", "", nil), 404, "a queue of a deleted vhost")
	want(guest("DELETE", "/api/users/bob", "", nil), 204, "DELETE user")
	want(guest("POST", "/api/definitions", `{"queues":[{"name":"q","vhost":"nosuch","durable":true}]}`, nil), 400, "import into a missing vhost")
	want(guest("PATCH", "/api/queues/%2F/x", "", nil), 405, "wrong method")
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// sorted returns a JSON list's items as sorted JSON texts, to compare
// lists whatever their order.
func sorted(v any) []string {
	list, _ := v.([]any)
	out := make([]string, len(list))
	for i, e := range list {
		out[i] = mustJSON(e)
	}
	sort.Strings(out)
	return out
}

// TestHTTPConnections lists AMQP connections, channels and consumers
// through the HTTP API and closes a connection with it, as an operator
// would: the client is told 320 CONNECTION_FORCED with the reason.
func TestHTTPConnections(t *testing.T) {
	p := loftproc.Start(t, loftBin, filepath.Join(t.TempDir(), "data"))
	conn, err := amqp.DialConfig("amqp://guest:guest@"+p.AMQP+"/", amqp.Config{Dial: amqp.DefaultDial(5 * time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	closed := conn.NotifyClose(make(chan *amqp.Error, 1))
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ch.QueueDeclare("work", false, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	if err := ch.Qos(7, 0, false); err != nil {
		t.Fatal(err)
	}
	if _, err := ch.Consume("work", "worker-1", false, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	var conns []map[string]any
	if code := apiAs(t, p, "guest", "guest", "GET", "/api/connections", "", &conns); code != 200 || len(conns) != 1 {
		t.Fatalf("connections: %d %v", code, conns)
	}
	c := conns[0]
	if c["user"] != "guest" || c["vhost"] != "/" || c["channels"] != 1.0 || c["protocol"] != "AMQP 0-9-1" {
		t.Fatalf("connection: %v", c)
	}
	var chans, consumers []map[string]any
	apiAs(t, p, "guest", "guest", "GET", "/api/channels", "", &chans)
	if len(chans) != 1 || chans[0]["consumer_count"] != 1.0 {
		t.Fatalf("channels: %v", chans)
	}
	apiAs(t, p, "guest", "guest", "GET", "/api/consumers/%2F", "", &consumers)
	if len(consumers) != 1 || consumers[0]["consumer_tag"] != "worker-1" || consumers[0]["prefetch_count"] != 7.0 ||
		consumers[0]["queue"].(map[string]any)["name"] != "work" {
		t.Fatalf("consumers: %v", consumers)
	}
	name := c["name"].(string)
	req, _ := http.NewRequest("DELETE", "http://"+p.HTTP+"/api/connections/"+url.PathEscape(name), nil)
	req.SetBasicAuth("guest", "guest")
	req.Header.Set("X-Reason", "maintenance")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("DELETE connection: %d", resp.StatusCode)
	}
	select {
	case e := <-closed:
		if e == nil || e.Code != amqp.ConnectionForced || !strings.Contains(e.Reason, "maintenance") {
			t.Fatalf("closed with %v", e)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the connection was not closed")
	}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		apiAs(t, p, "guest", "guest", "GET", "/api/connections", "", &conns)
		if len(conns) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("still listed after its close: %v", conns)
		}
	}
	if code := apiAs(t, p, "guest", "guest", "DELETE", "/api/connections/"+url.PathEscape(name), "", nil); code != 404 {
		t.Fatalf("DELETE a closed connection: %d", code)
	}
}
