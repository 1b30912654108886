package broker

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/loftmq/loft/internal/logstore"
	"github.com/loftmq/loft/internal/meta"
)

// Options configure a Broker. The zero value works, with automatic topic
// creation off (the server sets it from --kafka-auto-create-topics, whose
// default is on).
type Options struct {
	// AutoCreateTopics says whether Metadata may create missing topics; the
	// Kafka layer decides when to call CreateTopic for it.
	AutoCreateTopics bool
	// DefaultPartitions is the partition count of topics created with -1
	// partitions (auto-created ones included); default 1.
	DefaultPartitions int32
	Logger            *slog.Logger
	Now               func() time.Time
}

func (o *Options) setDefaults() {
	if o.DefaultPartitions <= 0 {
		o.DefaultPartitions = 1
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// Broker is the core model of Kafka-style topics: topics and their
// partitions (one log each), their configs, idempotent producers. It is
// safe for concurrent use.
//
// Locks: admin serialises topic changes (create, delete, new partitions,
// configs) and is taken before mu, which guards the topic maps. A Topic's
// and a Partition's own locks are taken after these.
type Broker struct {
	store  *logstore.Store
	md     *meta.Store
	opts   Options
	logger *slog.Logger

	admin sync.Mutex

	mu     sync.RWMutex
	topics map[string]*Topic
	byID   map[[16]byte]*Topic
	closed bool

	pids pidAllocator

	inflight sync.WaitGroup // produces whose done has not been called
}

// Open loads the topics recorded in md, opens their partition logs in
// store, finishes topic changes a crash interrupted, and rebuilds the
// idempotent producers' state from the logs. The store and md stay owned by
// the caller, who closes them after the Broker.
func Open(store *logstore.Store, md *meta.Store, opts Options) (*Broker, error) {
	opts.setDefaults()
	b := &Broker{
		store: store, md: md, opts: opts, logger: opts.Logger,
		topics: make(map[string]*Topic),
		byID:   make(map[[16]byte]*Topic),
	}
	b.pids.md = md
	if err := b.pids.load(); err != nil {
		return nil, err
	}
	start := time.Now()
	if err := b.loadTopics(); err != nil {
		return nil, err
	}
	if err := b.removeOrphans(); err != nil {
		return nil, err
	}
	b.logger.Info("broker: opened", "topics", len(b.topics), "took", time.Since(start))
	return b, nil
}

// Options returns the options the broker runs with, defaults applied.
func (b *Broker) Options() Options { return b.opts }

// Close makes later calls fail with ErrClosed, wakes every Wait, and waits
// for produces under way to complete. The logs are closed by the
// logstore.Store's owner, after Close.
func (b *Broker) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	topics := make([]*Topic, 0, len(b.topics))
	for _, t := range b.topics {
		topics = append(topics, t)
	}
	b.mu.Unlock()
	b.inflight.Wait()
	for _, t := range topics {
		for _, p := range t.Partitions() {
			p.wake(true)
		}
	}
	return nil
}

func (b *Broker) isClosed() bool {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return b.closed
}

// Topic returns the named topic.
func (b *Broker) Topic(name string) (*Topic, bool) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	t, ok := b.topics[name]
	return t, ok
}

// TopicByID returns the topic with the given id.
func (b *Broker) TopicByID(id [16]byte) (*Topic, bool) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	t, ok := b.byID[id]
	return t, ok
}

// Topics returns every topic, sorted by name.
func (b *Broker) Topics() []*Topic {
	b.mu.RLock()
	out := make([]*Topic, 0, len(b.topics))
	for _, t := range b.topics {
		out = append(out, t)
	}
	b.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

// pidAllocator hands out producer ids. Ids are reserved durably in blocks
// (one meta write per pidBlock ids), and a restart starts after the last
// reserved block, so an id is never given twice, even across a crash.
type pidAllocator struct {
	md *meta.Store

	mu         sync.Mutex
	next, last int64 // ids in [next, last) are reserved and unused
}

const pidBlock = 1000

var pidKey = meta.Key("producer-ids")

type pidRecord struct {
	Version int   `json:"version"`
	Next    int64 `json:"next"` // the first id not yet reserved
}

func (a *pidAllocator) load() error {
	v, ok := a.md.Get(pidKey)
	if !ok {
		return nil
	}
	var r pidRecord
	if err := json.Unmarshal(v, &r); err != nil {
		return fmt.Errorf("broker: read %s: %w", pidKey, err)
	}
	a.next, a.last = r.Next, r.Next
	return nil
}

func (a *pidAllocator) allocate(ctx context.Context) (int64, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.next == a.last {
		v, _ := json.Marshal(pidRecord{Version: 1, Next: a.last + pidBlock})
		if err := a.md.Put(ctx, pidKey, v); err != nil {
			return 0, fmt.Errorf("%w: reserve producer ids: %v", ErrStorage, err)
		}
		a.last += pidBlock
	}
	id := a.next
	a.next++
	return id, nil
}

// InitProducerID returns a new producer id, never given before, with epoch
// 0. Without transactional ids every call is a new producer, as in Kafka.
func (b *Broker) InitProducerID(ctx context.Context) (id int64, epoch int16, err error) {
	if b.isClosed() {
		return -1, -1, ErrClosed
	}
	id, err = b.pids.allocate(ctx)
	if err != nil {
		return -1, -1, err
	}
	return id, 0, nil
}
