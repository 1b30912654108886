package vhost

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/loftmq/loft/internal/broker"
	"github.com/loftmq/loft/internal/logstore"
	"github.com/loftmq/loft/internal/meta"
	"github.com/loftmq/loft/internal/queue"
)

// Errors returned by the model, often wrapped with details. The AMQP layer
// maps each to its reply code (in parentheses).
var (
	ErrNotFound     = errors.New("vhost: not found")                // 404 NOT_FOUND
	ErrInequivalent = errors.New("vhost: inequivalent declaration") // 406 PRECONDITION_FAILED
	ErrInUse        = errors.New("vhost: in use")                   // 406 PRECONDITION_FAILED
	ErrNotEmpty     = errors.New("vhost: not empty")                // 406 PRECONDITION_FAILED
	ErrLocked       = errors.New("vhost: exclusive to another connection")
	ErrAccess       = errors.New("vhost: access refused") // 403 ACCESS_REFUSED
	ErrArgument     = errors.New("vhost: invalid argument")
	ErrStorage      = errors.New("vhost: storage failed")
	ErrClosed       = errors.New("vhost: closed")
)

// DefaultCacheBudget bounds the memory all queues' caches of new messages
// use together; past it, consumers that fall behind read from disk.
const DefaultCacheBudget = 256 << 20

// queueLogPrefix begins the names of queue logs. "__" keeps them apart
// from Kafka partition logs, which package broker owns.
const queueLogPrefix = "__q."

// queueOfLog returns the id of the queue a log belongs to, "" if none:
// __q.<id> holds its messages (of priority 0), and __q.<id>.<more> its
// acks and other priority levels.
func queueOfLog(name string) string {
	rest, ok := strings.CutPrefix(name, queueLogPrefix)
	if !ok {
		return ""
	}
	id, _, _ := strings.Cut(rest, ".")
	return id
}

// Options configure Open.
type Options struct {
	// Store holds durable queues; Transient holds the rest and is emptied
	// by the caller before Open.
	Store, Transient *logstore.Store
	Meta             *meta.Store
	// CacheBytes bounds each queue's cache of new messages; 0 is the queue
	// package's default. CacheBudget bounds all of them together; 0 is
	// DefaultCacheBudget.
	CacheBytes  int
	CacheBudget int64
	// Broker holds the topics stream queues are; nil refuses stream
	// queues.
	Broker *broker.Broker
	Logger *slog.Logger
}

// Hosts is every vhost's model. A vhost's model is made on first use: the
// auth store says which vhosts exist.
type Hosts struct {
	opts   Options
	budget *queue.Budget
	dl     *deadLetters
	md     *meta.Store
	logger *slog.Logger

	mu     sync.Mutex
	vhosts map[string]*Vhost
	closed bool
}

// Open loads the durable topology recorded in meta, opens the durable
// queues and removes queue logs no record claims.
func Open(opts Options) (*Hosts, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.CacheBudget <= 0 {
		opts.CacheBudget = DefaultCacheBudget
	}
	h := &Hosts{opts: opts, md: opts.Meta, logger: opts.Logger, vhosts: make(map[string]*Vhost),
		budget: queue.NewBudget(opts.CacheBudget), dl: newDeadLetters()}
	opened := false
	defer func() {
		if !opened {
			h.dl.stop()
		}
	}()
	if err := h.loadPolicies(); err != nil {
		return nil, err
	}
	claimed := make(map[string]bool)
	type delayedExchange struct {
		v *Vhost
		x *Exchange
	}
	var delayed []delayedExchange
	for _, kv := range h.md.Scan(meta.Prefix(kindExchange)) {
		parts, err := meta.SplitKey(kv.Key)
		if err != nil || len(parts) != 3 {
			continue
		}
		var r exchangeRecord
		if err := json.Unmarshal(kv.Value, &r); err != nil {
			return nil, fmt.Errorf("vhost: read %s: %w", kv.Key, err)
		}
		args, err := decodeTable(r.Args)
		if err != nil {
			return nil, fmt.Errorf("vhost: read %s: %w", kv.Key, err)
		}
		x, err := newExchange(parts[2], r.Type, true, r.AutoDelete, r.Internal, args)
		if err != nil {
			return nil, fmt.Errorf("vhost: read %s: %w", kv.Key, err)
		}
		if x.dedup != nil && r.DedupID != "" {
			x.dedupID = r.DedupID
			if err := h.openDedupLog(x, false); err != nil {
				return nil, err
			}
			claimed[dedupLogPrefix+x.dedupID] = true
		}
		if x.Type == delayedKind && r.DelayID != "" {
			x.delayID = r.DelayID
			claimed[delayLogPrefix+x.delayID] = true
			claimed[delayLogPrefix+x.delayID+".done"] = true
			delayed = append(delayed, delayedExchange{h.vhost(parts[1]), x})
		}
		h.vhost(parts[1]).exchanges[x.Name] = x
	}
	for _, kv := range h.md.Scan(meta.Prefix(kindQueue)) {
		parts, err := meta.SplitKey(kv.Key)
		if err != nil || len(parts) != 3 {
			continue
		}
		var r queueRecord
		if err := json.Unmarshal(kv.Value, &r); err != nil {
			return nil, fmt.Errorf("vhost: read %s: %w", kv.Key, err)
		}
		args, err := decodeTable(r.Args)
		if err != nil {
			return nil, fmt.Errorf("vhost: read %s: %w", kv.Key, err)
		}
		q := &Queue{Name: parts[2], Durable: true, AutoDelete: r.AutoDelete, Args: args, id: r.ID}
		v := h.vhost(parts[1])
		v.applyQueuePolicy(q)
		if err := h.openQueue(v, q, false); err != nil {
			return nil, err
		}
		claimed[q.id] = true
		v.queues[q.Name] = q
		q.expires, _ = queueExpires(q.Effective())
		q.ConsumerTimeout, _ = positiveMillis(q.Effective(), "x-consumer-timeout")
		v.armExpiry(q) // a restart counts as a use, as in RabbitMQ
	}
	for _, kv := range h.md.Scan(meta.Prefix(kindBinding)) {
		parts, err := meta.SplitKey(kv.Key)
		if err != nil || len(parts) < 2 {
			continue
		}
		var r bindingRecord
		if err := json.Unmarshal(kv.Value, &r); err != nil {
			return nil, fmt.Errorf("vhost: read %s: %w", kv.Key, err)
		}
		args, err := decodeTable(r.Args)
		if err != nil {
			return nil, fmt.Errorf("vhost: read %s: %w", kv.Key, err)
		}
		v := h.vhost(parts[1])
		x, ok := v.exchanges[r.Source]
		if !ok {
			continue
		}
		x.router.Bind(dest{queue: r.ToQueue, topic: r.ToTopic, name: r.Dest}, r.Key, args.Map())
	}
	for _, name := range opts.Store.Logs() {
		if id := queueOfLog(name); (id != "" && !claimed[id]) ||
			((strings.HasPrefix(name, dedupLogPrefix) || strings.HasPrefix(name, delayLogPrefix)) && !claimed[name]) {
			h.logger.Warn("vhost: removing a queue log no queue claims (an interrupted declare or delete)", "log", name)
			if err := opts.Store.Delete(name); err != nil {
				return nil, fmt.Errorf("vhost: remove orphan log %s: %w", name, err)
			}
		}
	}
	for _, v := range h.vhosts {
		v.applyPolicies() // exchanges: the queues have theirs
	}
	// Held messages fire into the queues and bindings now in place.
	for _, d := range delayed {
		if err := h.openDelay(d.v, d.x, false); err != nil {
			return nil, err
		}
	}
	n := 0
	for _, v := range h.vhosts {
		n += len(v.queues)
	}
	h.logger.Info("vhost: opened", "vhosts", len(h.vhosts), "durable_queues", n)
	opened = true
	return h, nil
}

// Get returns the model of the named vhost, making it on first use.
func (h *Hosts) Get(name string) *Vhost {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.vhost(name)
}

func (h *Hosts) vhost(name string) *Vhost {
	v, ok := h.vhosts[name]
	if !ok {
		v = newVhost(h, name)
		h.vhosts[name] = v
	}
	return v
}

// Close closes every queue. The stores stay open for their owner.
func (h *Hosts) Close() {
	h.mu.Lock()
	h.closed = true
	vs := make([]*Vhost, 0, len(h.vhosts))
	for _, v := range h.vhosts {
		vs = append(vs, v)
	}
	h.mu.Unlock()
	// Delay stores first, without the vhost's lock (a fire in progress
	// takes it), so that nothing fires into closing queues.
	for _, v := range vs {
		v.mu.RLock()
		xs := make([]*Exchange, 0, len(v.exchanges))
		for _, x := range v.exchanges {
			xs = append(xs, x)
		}
		v.mu.RUnlock()
		for _, x := range xs {
			h.closeDelay(x, false)
		}
	}
	for _, v := range vs {
		v.mu.Lock()
		for _, q := range v.queues {
			q.q.Close()
		}
		v.closed = true
		v.mu.Unlock()
	}
	h.dl.stop()
}

// openQueue opens (or, when create, creates) q's logs and subscription:
// one Queue, or with x-max-priority one per priority level (levels above
// 0 opened on their first message, their logs named by level).
func (h *Hosts) openQueue(v *Vhost, q *Queue, create bool) error {
	if kind, _ := queueType(q.Args); kind == "stream" {
		return h.openStream(q, create)
	}
	q.dedup, _, _ = queueDedup(q.Args)
	store := h.opts.Store
	if !q.stored() {
		store = h.opts.Transient
	}
	maxPriority, _ := queuePriority(q.Args)
	if maxPriority == 0 {
		sub, err := h.openLevel(v, q, store, 0, create)
		if err != nil {
			return err
		}
		q.q = sub
		return nil
	}
	var existing []int
	prefix := q.logName() + ".p"
	for _, name := range store.Logs() {
		if rest, ok := strings.CutPrefix(name, prefix); ok && !strings.Contains(rest, ".") {
			if i, err := strconv.Atoi(rest); err == nil && i > 0 {
				existing = append(existing, i)
			}
		}
	}
	existing = append(existing, 0)
	sub, err := queue.OpenLevels(maxPriority, existing, func(level int) (*queue.Queue, error) {
		// Level 0 is created with the queue; the others when first used.
		return h.openLevel(v, q, store, level, create && level == 0)
	})
	if err != nil {
		return err
	}
	q.q = sub
	return nil
}

// openLevel opens the logs and Queue of one priority level of q (the only
// one of a queue without priorities). With create, the logs are made
// anew; without, a missing log of level 0 is a loss worth a warning.
func (h *Hosts) openLevel(v *Vhost, q *Queue, store *logstore.Store, level int, create bool) (*queue.Queue, error) {
	cfg := logstore.Config{
		SegmentBytes:       64 << 20,
		RetentionAge:       -1,
		RetentionBytes:     -1,
		Delete:             true,
		IndexIntervalBytes: 4096,
	}
	open := func(name string, cfg logstore.Config) (*logstore.Log, error) {
		if l, ok := store.Log(name); ok && !create {
			return l, nil
		}
		if !create && level == 0 {
			h.logger.Warn("vhost: a durable queue's log is missing; starting it empty", "queue", q.Name, "log", name)
		}
		return store.Create(name, cfg)
	}
	name := q.logName()
	if level > 0 {
		name += ".p" + strconv.Itoa(level)
	}
	l, err := open(name, cfg)
	if err != nil {
		return nil, fmt.Errorf("%w: queue %s: %v", ErrStorage, q.Name, err)
	}
	var acks *logstore.Log
	if q.stored() {
		// Acks are not waited for: the ack log is written without fsync
		// of its own and synced by the store every second
		// (logstore.Options.NoSyncInterval), so a power loss can only
		// cause redeliveries, of at most about a second of acks.
		ackCfg := cfg
		ackCfg.SegmentBytes, ackCfg.NoSync = 8<<20, true
		if acks, err = open(name+".acks", ackCfg); err != nil {
			return nil, fmt.Errorf("%w: queue %s: %v", ErrStorage, q.Name, err)
		}
	}
	dedup, dedupLimit, _ := queueDedup(q.Args)
	sub, err := queue.Open(queue.Config{Name: q.Name, Log: l, Acks: acks, CacheBytes: h.opts.CacheBytes,
		Limits:               h.queueLimits(v, q),
		SingleActiveConsumer: singleActive(q.Args),
		Deduplicate:          dedup, DedupKey: storedKey, DedupLimit: dedupLimit,
		Budget: h.budget, Logger: h.logger})
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrStorage, err)
	}
	return sub, nil
}

// dedupLogPrefix begins the names of deduplication caches' logs.
const dedupLogPrefix = "__dedup."

// openDedupLog opens (or creates) a durable dedup exchange's log and
// replays it into the cache.
func (h *Hosts) openDedupLog(x *Exchange, create bool) error {
	name := dedupLogPrefix + x.dedupID
	l, ok := h.opts.Store.Log(name)
	if !ok || create {
		cfg := logstore.Config{SegmentBytes: 4 << 20, RetentionAge: -1, RetentionBytes: -1, Delete: true,
			IndexIntervalBytes: 4096, NoSync: true}
		var err error
		if l, err = h.opts.Store.Create(name, cfg); err != nil {
			return fmt.Errorf("%w: exchange %s: %v", ErrStorage, x.Name, err)
		}
	}
	x.dedup.log = l
	if err := x.dedup.replay(time.Now()); err != nil {
		return fmt.Errorf("%w: exchange %s: replay the deduplication cache: %v", ErrStorage, x.Name, err)
	}
	return nil
}

// dropDedupLog deletes a dedup exchange's log, if it has one.
func (h *Hosts) dropDedupLog(x *Exchange) {
	if x.dedup == nil || x.dedup.log == nil {
		return
	}
	if err := h.opts.Store.Delete(x.dedup.log.Name()); err != nil && !errors.Is(err, logstore.ErrNotFound) {
		h.logger.Warn("vhost: cannot delete a deduplication log; it is removed at the next start", "exchange", x.Name, "err", err)
	}
}

// dropQueueLogs deletes q's logs.
func (h *Hosts) dropQueueLogs(q *Queue) {
	store := h.opts.Store
	if !q.stored() {
		store = h.opts.Transient
	}
	for _, name := range store.Logs() {
		if queueOfLog(name) != q.id {
			continue
		}
		if err := store.Delete(name); err != nil && !errors.Is(err, logstore.ErrNotFound) {
			h.logger.Warn("vhost: cannot delete a queue's log; it is removed at the next start", "queue", q.Name, "log", name, "err", err)
		}
	}
}

// Delete deletes every queue, exchange and policy of a vhost, as when the
// vhost itself is deleted, and forgets it; a later use starts it anew.
func (h *Hosts) Delete(name string) error {
	v := h.Get(name)
	for _, q := range v.Queues() {
		v.mu.RLock()
		owner := uint64(0)
		if have, ok := v.queues[q.Name]; ok {
			owner = have.Owner
		}
		v.mu.RUnlock()
		if _, err := v.DeleteQueue(q.Name, false, false, owner); err != nil {
			return err
		}
	}
	for _, x := range v.Exchanges() {
		if x.Name == "" || strings.HasPrefix(x.Name, "amq.") {
			continue
		}
		if err := v.DeleteExchange(x.Name, false); err != nil {
			return err
		}
	}
	for _, p := range v.Policies() {
		if err := v.DeletePolicy(p.Name); err != nil {
			return err
		}
	}
	h.mu.Lock()
	delete(h.vhosts, name)
	h.mu.Unlock()
	return nil
}
