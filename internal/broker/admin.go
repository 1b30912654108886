package broker

import (
	"context"
	"errors"
	"fmt"
	"maps"

	"github.com/loftmq/loft/internal/logstore"
	"github.com/loftmq/loft/internal/meta"
)

// Topic changes are ordered so that a crash at any point leaves a state
// Open can finish or undo:
//
//   - CreateTopic and CreatePartitions create the partition logs first and
//     then write the topic record. A crash in between leaves logs that no
//     record claims; Open deletes them.
//   - DeleteTopic deletes the record first, then the logs. A crash in
//     between leaves the same kind of orphan logs.
//   - Config changes write the record, then set the logs' configs. Open
//     sets every log's config from the record, which is the truth.
//
// Every change is one meta.Apply, durable before the call returns. The
// writes to meta are not cancelled with ctx: an Apply abandoned half-way
// may still take effect, and the in-memory model must follow the log.

// CreateTopic creates a topic and its partition logs. With validateOnly it
// checks everything and returns the topic it would create, which has no
// partitions (NumPartitions says how many it would have).
func (b *Broker) CreateTopic(ctx context.Context, spec TopicSpec, validateOnly bool) (*Topic, error) {
	if err := checkTopicName(spec.Name); err != nil {
		return nil, err
	}
	n := spec.Partitions
	if n == -1 {
		n = b.opts.DefaultPartitions
	}
	if n < 1 || n > maxPartitions {
		return nil, fmt.Errorf("%w: %d, want 1 to %d", ErrInvalidPartitions, spec.Partitions, maxPartitions)
	}
	set := maps.Clone(spec.Configs)
	if set == nil {
		set = map[string]string{}
	}
	if err := checkConfigs(set); err != nil {
		return nil, err
	}
	b.admin.Lock()
	defer b.admin.Unlock()
	if b.isClosed() {
		return nil, ErrClosed
	}
	if err := b.checkNewName(spec.Name); err != nil {
		return nil, err
	}
	t := &Topic{b: b, name: spec.Name, id: b.newID(), created: b.opts.Now().UnixMilli()}
	cfg := newTopicConfig(set)
	t.cfg.Store(cfg)
	if validateOnly {
		t.nparts = n
		return t, nil
	}
	parts, err := b.createLogs(t, 0, n, cfg)
	if err != nil {
		return nil, err
	}
	if err := b.md.Put(context.WithoutCancel(ctx), topicKey(t.name), t.record(n, set)); err != nil {
		b.deleteLogs(parts)
		return nil, fmt.Errorf("%w: create topic %s: %v", ErrStorage, t.name, err)
	}
	t.parts = parts
	b.mu.Lock()
	b.topics[t.name] = t
	b.byID[t.id] = t
	b.mu.Unlock()
	b.logger.Info("broker: topic created", "topic", t.name, "partitions", n, "configs", set)
	return t, nil
}

// checkNewName refuses a name in use, or one that collides with a topic
// in use by differing only in '.' and '_'. The caller holds admin.
func (b *Broker) checkNewName(name string) error {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if _, ok := b.topics[name]; ok {
		return fmt.Errorf("%w: %s", ErrTopicExists, name)
	}
	c := collisionName(name)
	for other := range b.topics {
		if collisionName(other) == c {
			return fmt.Errorf("%w: %q collides with the topic %q ('.' and '_' are the same in Kafka metric names)", ErrInvalidTopic, name, other)
		}
	}
	return nil
}

// newID returns a topic id no topic has (a collision is astronomically
// unlikely, but the check is free).
func (b *Broker) newID() [16]byte {
	b.mu.RLock()
	defer b.mu.RUnlock()
	for {
		id := newTopicID()
		if _, ok := b.byID[id]; !ok {
			return id
		}
	}
}

// createLogs creates the logs of partitions [from, to) of t. A log left
// under the same name by an interrupted delete is removed first. On error
// the logs created are deleted again.
func (b *Broker) createLogs(t *Topic, from, to int32, cfg *topicConfig) ([]*Partition, error) {
	var parts []*Partition
	for i := from; i < to; i++ {
		name := logName(t.name, i)
		if _, ok := b.store.Log(name); ok {
			b.logger.Warn("broker: removing a stale partition log", "log", name)
			if err := b.store.Delete(name); err != nil {
				b.deleteLogs(parts)
				return nil, fmt.Errorf("%w: remove stale log %s: %v", ErrStorage, name, err)
			}
		}
		l, err := b.store.Create(name, cfg.log)
		if err != nil {
			b.deleteLogs(parts)
			return nil, fmt.Errorf("%w: create log %s: %v", ErrStorage, name, err)
		}
		parts = append(parts, newPartition(t, i, l))
	}
	return parts, nil
}

// deleteLogs closes parts and removes their logs, logging failures: the
// logs are orphans that the next Open removes.
func (b *Broker) deleteLogs(parts []*Partition) {
	for _, p := range parts {
		p.markDeleted()
		if err := b.store.Delete(p.log.Name()); err != nil && !errors.Is(err, logstore.ErrNotFound) {
			b.logger.Error("broker: cannot delete partition log; the next start will", "log", p.log.Name(), "err", err)
		}
	}
}

// DeleteTopic deletes a topic and its logs. Produces in flight on it
// complete (or fail) first; waiters of its partitions are woken.
func (b *Broker) DeleteTopic(ctx context.Context, name string) error {
	b.admin.Lock()
	defer b.admin.Unlock()
	if b.isClosed() {
		return ErrClosed
	}
	t, ok := b.Topic(name)
	if !ok {
		return fmt.Errorf("%w: %s", ErrUnknownTopic, name)
	}
	if err := b.md.Delete(context.WithoutCancel(ctx), topicKey(name)); err != nil {
		return fmt.Errorf("%w: delete topic %s: %v", ErrStorage, name, err)
	}
	b.mu.Lock()
	delete(b.topics, name)
	delete(b.byID, t.id)
	b.mu.Unlock()
	t.mu.Lock()
	t.deleted = true
	parts := t.parts
	t.mu.Unlock()
	b.deleteLogs(parts)
	b.logger.Info("broker: topic deleted", "topic", name)
	return nil
}

// CreatePartitions raises a topic's partition count to total.
func (b *Broker) CreatePartitions(ctx context.Context, name string, total int32, validateOnly bool) error {
	b.admin.Lock()
	defer b.admin.Unlock()
	if b.isClosed() {
		return ErrClosed
	}
	t, ok := b.Topic(name)
	if !ok {
		return fmt.Errorf("%w: %s", ErrUnknownTopic, name)
	}
	cur := t.NumPartitions()
	switch {
	case total == cur:
		return fmt.Errorf("%w: topic %s already has %d partitions", ErrInvalidPartitions, name, cur)
	case total < cur:
		return fmt.Errorf("%w: topic %s has %d partitions, more than the %d requested; partitions cannot be removed", ErrInvalidPartitions, name, cur, total)
	case total > maxPartitions:
		return fmt.Errorf("%w: %d, at most %d", ErrInvalidPartitions, total, maxPartitions)
	}
	if validateOnly {
		return nil
	}
	cfg := t.cfg.Load()
	parts, err := b.createLogs(t, cur, total, cfg)
	if err != nil {
		return err
	}
	if err := b.md.Put(context.WithoutCancel(ctx), topicKey(name), t.record(total, cfg.set)); err != nil {
		b.deleteLogs(parts)
		return fmt.Errorf("%w: create partitions of %s: %v", ErrStorage, name, err)
	}
	t.mu.Lock()
	t.parts = append(t.parts, parts...)
	t.mu.Unlock()
	b.logger.Info("broker: partitions created", "topic", name, "partitions", total)
	return nil
}

// AlterTopicConfigs applies incremental changes to a topic's configs
// (IncrementalAlterConfigs): all of them or, on any error, none.
func (b *Broker) AlterTopicConfigs(ctx context.Context, name string, ops []ConfigOp, validateOnly bool) error {
	return b.changeConfigs(ctx, name, validateOnly, func(set map[string]string) (map[string]string, error) {
		return applyOps(set, ops)
	})
}

// ReplaceTopicConfigs sets a topic's configs to exactly configs
// (AlterConfigs): every config not given goes back to its default.
func (b *Broker) ReplaceTopicConfigs(ctx context.Context, name string, configs map[string]string, validateOnly bool) error {
	return b.changeConfigs(ctx, name, validateOnly, func(map[string]string) (map[string]string, error) {
		set := maps.Clone(configs)
		if set == nil {
			set = map[string]string{}
		}
		return set, checkConfigs(set)
	})
}

func (b *Broker) changeConfigs(ctx context.Context, name string, validateOnly bool, change func(map[string]string) (map[string]string, error)) error {
	b.admin.Lock()
	defer b.admin.Unlock()
	if b.isClosed() {
		return ErrClosed
	}
	t, ok := b.Topic(name)
	if !ok {
		return fmt.Errorf("%w: %s", ErrUnknownTopic, name)
	}
	set, err := change(t.cfg.Load().set)
	if err != nil || validateOnly {
		return err
	}
	if err := b.md.Put(context.WithoutCancel(ctx), topicKey(name), t.record(t.NumPartitions(), set)); err != nil {
		return fmt.Errorf("%w: alter configs of %s: %v", ErrStorage, name, err)
	}
	cfg := newTopicConfig(set)
	t.cfg.Store(cfg)
	var firstErr error
	for _, p := range t.Partitions() {
		if err := p.log.SetConfig(cfg.log); err != nil && firstErr == nil {
			firstErr = fmt.Errorf("%w: configure log %s (the next start retries): %v", ErrStorage, p.log.Name(), err)
		}
	}
	b.logger.Info("broker: topic configs changed", "topic", name, "configs", set)
	return firstErr
}

// loadTopics builds the topics from their records in meta, opening (or,
// if missing, recreating empty) their logs and setting the logs' configs
// from the records.
func (b *Broker) loadTopics() error {
	for _, kv := range b.md.Scan(meta.Prefix("topic")) {
		parts, err := meta.SplitKey(kv.Key)
		if err != nil || len(parts) != 2 {
			b.logger.Warn("broker: ignoring a malformed topic key", "key", kv.Key)
			continue
		}
		name := parts[1]
		r, id, err := parseTopicRecord(kv.Value)
		if err != nil {
			return fmt.Errorf("broker: topic record %s: %v", name, err)
		}
		set := map[string]string{}
		for k, v := range r.Configs {
			if err := checkConfigs(map[string]string{k: v}); err != nil {
				b.logger.Warn("broker: ignoring a stored topic config", "topic", name, "config", k, "err", err)
				continue
			}
			set[k] = v
		}
		t := &Topic{b: b, name: name, id: id, created: r.Created}
		cfg := newTopicConfig(set)
		t.cfg.Store(cfg)
		for i := range r.Partitions {
			p, err := b.openPartition(t, i, cfg)
			if err != nil {
				return err
			}
			t.parts = append(t.parts, p)
		}
		b.topics[name] = t
		b.byID[id] = t
	}
	return nil
}

func (b *Broker) openPartition(t *Topic, i int32, cfg *topicConfig) (*Partition, error) {
	name := logName(t.name, i)
	l, ok := b.store.Log(name)
	if !ok {
		b.logger.Warn("broker: partition log missing; creating it empty", "topic", t.name, "partition", i)
		var err error
		if l, err = b.store.Create(name, cfg.log); err != nil {
			return nil, fmt.Errorf("broker: create missing log %s: %w", name, err)
		}
	} else if l.Config() != cfg.log {
		if err := l.SetConfig(cfg.log); err != nil {
			return nil, fmt.Errorf("broker: configure log %s: %w", name, err)
		}
	}
	p := newPartition(t, i, l)
	if err := p.loadProducers(); err != nil {
		return nil, err
	}
	return p, nil
}

// removeOrphans deletes partition logs that no topic record claims: left
// by a crash during CreateTopic, CreatePartitions or DeleteTopic. Logs
// whose names are not "<topic>-<index>" (__meta, other kinds) are left
// alone.
func (b *Broker) removeOrphans() error {
	for _, name := range b.store.Logs() {
		topic, i, ok := parseLogName(name)
		if !ok {
			continue
		}
		if t, ok := b.topics[topic]; ok && i < int32(len(t.parts)) {
			continue
		}
		b.logger.Warn("broker: removing a partition log no topic claims (an interrupted create or delete)", "log", name)
		if err := b.store.Delete(name); err != nil {
			return fmt.Errorf("broker: remove orphan log %s: %w", name, err)
		}
	}
	return nil
}
