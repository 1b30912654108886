package vhost

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/loftmq/loft/internal/amqp/frame"
	"github.com/loftmq/loft/internal/delay"
	"github.com/loftmq/loft/internal/queue"
	"github.com/loftmq/loft/internal/route"
)

// Vhost is one virtual host's exchanges, queues and bindings.
type Vhost struct {
	h    *Hosts
	name string

	mu        sync.RWMutex
	exchanges map[string]*Exchange
	queues    map[string]*Queue
	policies  map[string]*Policy
	closed    bool
}

// The exchanges every vhost has, as RabbitMQ predeclares them.
var predeclared = []struct{ name, kind string }{
	{"", "direct"},
	{"amq.direct", "direct"},
	{"amq.fanout", "fanout"},
	{"amq.topic", "topic"},
	{"amq.headers", "headers"},
	{"amq.match", "headers"},
}

func newVhost(h *Hosts, name string) *Vhost {
	v := &Vhost{h: h, name: name, exchanges: make(map[string]*Exchange), queues: make(map[string]*Queue),
		policies: make(map[string]*Policy)}
	for _, p := range predeclared {
		x, _ := newExchange(p.name, p.kind, true, false, false, nil)
		x.builtin = true
		v.exchanges[p.name] = x
	}
	return v
}

// dest is a binding's destination: a queue or an exchange.
type dest struct {
	queue bool
	topic bool // a Kafka topic of the broker (queue.bind to kafka:<topic>)
	name  string
}

// Exchange is one exchange.
type Exchange struct {
	Name       string
	Type       string
	Durable    bool
	AutoDelete bool
	Internal   bool
	Args       frame.Table

	// Policy names the policy applying to the exchange, if any.
	Policy string

	builtin   bool // the default or an amq.* exchange
	alternate string
	router    *route.Router[dest]
	dedup     *dedupCache  // x-message-deduplication exchanges
	dedupID   string       // names a durable dedup exchange's log
	delay     *delay.Store // x-delayed-message exchanges, once opened
	delayID   string       // names a delayed exchange's logs
}

func newExchange(name, kind string, durable, autoDelete, internal bool, args frame.Table) (*Exchange, error) {
	var dedup *dedupCache
	routeKind := kind
	if kind == dedupKind {
		var err error
		if dedup, err = newDedupCache(args); err != nil {
			return nil, err
		}
		routeKind = "fanout" // the plugin's exchange routes like fanout
	}
	if kind == delayedKind {
		var err error
		if routeKind, err = delayedType(args); err != nil {
			return nil, err
		}
	}
	k, err := route.ParseKind(routeKind)
	if err != nil {
		return nil, fmt.Errorf("%w: unknown exchange type '%s'", ErrUnknownType, kind)
	}
	x := &Exchange{
		Name: name, Type: kind, Durable: durable, AutoDelete: autoDelete, Internal: internal,
		Args: args, router: route.New[dest](k), dedup: dedup,
	}
	x.alternate, _ = argString(args, "alternate-exchange")
	return x, nil
}

// Queue is one queue's declaration and subscription.
type Queue struct {
	Name       string
	Durable    bool
	Exclusive  bool
	AutoDelete bool
	Args       frame.Table
	// Owner is the connection an exclusive queue belongs to.
	Owner uint64

	// Policy names the policy applying to the queue, if any; see
	// Effective for what it sets.
	Policy string

	id       string
	q        queue.Sub
	eff      atomic.Pointer[frame.Table] // Args with the policy merged in
	consumed bool                        // has had a consumer: auto-delete applies
	dedup    bool                        // x-message-deduplication: publishes read the key

	// ConsumerTimeout is x-consumer-timeout: how long a delivery may stay
	// unacked; 0 leaves it to the server's default.
	ConsumerTimeout time.Duration

	// x-expires: the queue is deleted once unused (no consumers, no
	// get, no redeclaration) that long.
	expires  time.Duration
	lastUsed atomic.Int64 // unix ns
	expiry   *time.Timer  // guarded by the vhost's mu
}

// stored says whether the queue outlives the broker: exclusive queues
// never do, as they belong to a connection.
func (q *Queue) stored() bool { return q.Durable && !q.Exclusive }

func (q *Queue) logName() string { return queueLogPrefix + q.id }

// Effective returns the queue's arguments with its policy merged in:
// what it acts on.
func (q *Queue) Effective() frame.Table {
	if p := q.eff.Load(); p != nil {
		return *p
	}
	return q.Args
}

// Sub returns the queue's subscription, for delivery and counts; messages
// are settled on the queue.Queue that delivered them.
func (q *Queue) Sub() queue.Sub { return q.q }
