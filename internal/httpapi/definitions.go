package httpapi

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/loftmq/loft/internal/amqp/frame"
	"github.com/loftmq/loft/internal/auth"
	"github.com/loftmq/loft/internal/httpx"
	"github.com/loftmq/loft/internal/vhost"
)

// definitions is the whole topology in RabbitMQ's definitions format.
type definitions struct {
	ProductName    string            `json:"product_name,omitempty"`
	ProductVersion string            `json:"product_version,omitempty"`
	RabbitVersion  string            `json:"rabbit_version,omitempty"`
	Users          []defUser         `json:"users"`
	Vhosts         []defVhost        `json:"vhosts"`
	Permissions    []auth.Permission `json:"permissions"`
	Policies       []policyBody      `json:"policies"`
	Queues         []defQueue        `json:"queues"`
	Exchanges      []defExchange     `json:"exchanges"`
	Bindings       []defBinding      `json:"bindings"`
}

type defUser struct {
	Name             string  `json:"name"`
	PasswordHash     string  `json:"password_hash"`
	HashingAlgorithm string  `json:"hashing_algorithm"`
	Tags             any     `json:"tags"`
	Password         *string `json:"password,omitempty"`
}

type defVhost struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	Tags        any    `json:"tags,omitempty"`
}

type defQueue struct {
	Name       string         `json:"name"`
	Vhost      string         `json:"vhost"`
	Durable    bool           `json:"durable"`
	AutoDelete bool           `json:"auto_delete"`
	Arguments  map[string]any `json:"arguments"`
}

type defExchange struct {
	Name       string         `json:"name"`
	Vhost      string         `json:"vhost"`
	Type       string         `json:"type"`
	Durable    bool           `json:"durable"`
	AutoDelete bool           `json:"auto_delete"`
	Internal   bool           `json:"internal"`
	Arguments  map[string]any `json:"arguments"`
}

type defBinding struct {
	Source          string         `json:"source"`
	Vhost           string         `json:"vhost"`
	Destination     string         `json:"destination"`
	DestinationType string         `json:"destination_type"`
	RoutingKey      string         `json:"routing_key"`
	Arguments       map[string]any `json:"arguments"`
}

// exportDefinitions answers GET /api/definitions: users, vhosts,
// permissions, policies, and the durable exchanges, queues and bindings
// (not the predeclared exchanges, nor exclusive queues).
func (a *API) exportDefinitions(w http.ResponseWriter, r request) {
	d := definitions{ProductName: "Loft", ProductVersion: a.version, RabbitVersion: a.version,
		Users: []defUser{}, Vhosts: []defVhost{}, Policies: []policyBody{},
		Queues: []defQueue{}, Exchanges: []defExchange{}, Bindings: []defBinding{}}
	for _, u := range a.users.Users() {
		d.Users = append(d.Users, defUser{Name: u.Name, PasswordHash: u.PasswordHash, HashingAlgorithm: u.HashingAlgorithm, Tags: u.Tags})
	}
	d.Permissions = a.users.ListPermissions()
	if d.Permissions == nil {
		d.Permissions = []auth.Permission{}
	}
	for _, v := range a.users.Vhosts() {
		d.Vhosts = append(d.Vhosts, defVhost{Name: v.Name, Description: v.Description, Tags: v.Tags})
		m := a.hosts.Get(v.Name)
		for _, p := range m.Policies() {
			d.Policies = append(d.Policies, toBody(p))
		}
		durable := map[string]bool{}
		for _, x := range m.Exchanges() {
			durable["e:"+x.Name] = x.Durable
			if x.Name == "" || strings.HasPrefix(x.Name, "amq.") || !x.Durable {
				continue
			}
			d.Exchanges = append(d.Exchanges, defExchange{Name: x.Name, Vhost: v.Name, Type: x.Type, Durable: true,
				AutoDelete: x.AutoDelete, Internal: x.Internal, Arguments: tableJSON(x.Args)})
		}
		for _, q := range m.Queues() {
			durable["q:"+q.Name] = q.Durable && !q.Exclusive
			if !q.Durable || q.Exclusive {
				continue
			}
			d.Queues = append(d.Queues, defQueue{Name: q.Name, Vhost: v.Name, Durable: true,
				AutoDelete: q.AutoDelete, Arguments: tableJSON(q.Args)})
		}
		for _, b := range m.Bindings() {
			j := bindingJSON(v.Name, b)
			dest := "e:" + b.Destination
			if b.DestType != "exchange" {
				dest = "q:" + b.Destination
			}
			if b.Source == "" || !durable["e:"+b.Source] || (b.DestType != "topic" && !durable[dest]) {
				continue
			}
			d.Bindings = append(d.Bindings, defBinding{Source: b.Source, Vhost: v.Name, Destination: j["destination"].(string),
				DestinationType: j["destination_type"].(string), RoutingKey: b.Key, Arguments: tableJSON(tableOf(b.Args))})
		}
	}
	httpx.JSON(w, http.StatusOK, d)
}

// importDefinitions answers POST /api/definitions: makes what the
// definitions hold, in dependency order (vhosts, users, permissions,
// policies, exchanges, queues, bindings); what exists already must be
// equivalent. The first failure stops it with a 400 naming the object.
func (a *API) importDefinitions(w http.ResponseWriter, r request) {
	var d definitions
	if !httpx.ReadJSON(w, r.Request, &d) {
		return
	}
	fail := func(what string, err error) {
		httpx.Error(w, http.StatusBadRequest, "bad_request", fmt.Sprintf("%s: %v", what, err))
	}
	ctx := r.Context()
	for _, v := range d.Vhosts {
		if _, ok := a.users.Vhost(v.Name); ok {
			continue
		}
		tags, err := tagList(v.Tags)
		if err == nil {
			err = a.users.AddVhost(ctx, v.Name, v.Description, tags)
		}
		if err != nil {
			fail("vhost "+v.Name, err)
			return
		}
	}
	for _, u := range d.Users {
		tags, err := tagList(u.Tags)
		if err == nil {
			hash := &u.PasswordHash
			if u.PasswordHash == "" {
				hash = nil
			}
			err = a.setUser(ctx, u.Name, u.Password, hash, u.HashingAlgorithm, tags)
		}
		if err != nil {
			fail("user "+u.Name, err)
			return
		}
	}
	for _, p := range d.Permissions {
		if err := a.users.SetPermissions(ctx, p.User, p.Vhost, p.Permissions); err != nil {
			fail(fmt.Sprintf("permission of %s on %s", p.User, p.Vhost), err)
			return
		}
	}
	known := func(name string) (*vhost.Vhost, error) {
		if _, ok := a.users.Vhost(name); !ok {
			return nil, fmt.Errorf("no vhost '%s'", name)
		}
		return a.hosts.Get(name), nil
	}
	for _, p := range d.Policies {
		v, err := known(p.Vhost)
		if err == nil {
			if p.Pattern == nil {
				err = fmt.Errorf("no pattern")
			} else {
				err = v.SetPolicy(vhost.Policy{Name: p.Name, Pattern: *p.Pattern, ApplyTo: p.ApplyTo, Priority: p.Priority, Definition: p.Definition})
			}
		}
		if err != nil {
			fail("policy "+p.Name, err)
			return
		}
	}
	for _, x := range d.Exchanges {
		v, err := known(x.Vhost)
		if err == nil {
			args, aerr := jsonTable(x.Arguments)
			if err = aerr; err == nil {
				err = v.DeclareExchange(vhost.ExchangeDecl{Name: x.Name, Type: x.Type, Durable: x.Durable,
					AutoDelete: x.AutoDelete, Internal: x.Internal, Args: args})
			}
		}
		if err != nil {
			fail("exchange "+x.Name, err)
			return
		}
	}
	for _, q := range d.Queues {
		v, err := known(q.Vhost)
		if err == nil {
			args, aerr := jsonTable(q.Arguments)
			if err = aerr; err == nil {
				_, err = v.DeclareQueue(vhost.QueueDecl{Name: q.Name, Durable: q.Durable, AutoDelete: q.AutoDelete, Args: args})
			}
		}
		if err != nil {
			fail("queue "+q.Name, err)
			return
		}
	}
	for _, b := range d.Bindings {
		v, err := known(b.Vhost)
		if err == nil {
			args, aerr := jsonTable(b.Arguments)
			switch {
			case aerr != nil:
				err = aerr
			case b.DestinationType == "exchange":
				err = v.BindExchange(b.Destination, b.Source, b.RoutingKey, args)
			default:
				err = v.BindQueue(b.Destination, b.Source, b.RoutingKey, args, 0)
			}
		}
		if err != nil {
			fail(fmt.Sprintf("binding of %s to %s", b.Source, b.Destination), err)
			return
		}
	}
	w.WriteHeader(http.StatusNoContent)
}

// tableOf turns binding arguments back into a table.
func tableOf(m map[string]any) frame.Table {
	t := make(frame.Table, 0, len(m))
	for k, v := range m {
		t = append(t, frame.Field{Key: k, Value: v})
	}
	return t
}
