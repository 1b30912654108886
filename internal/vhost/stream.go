package vhost

// Stream queues (x-queue-type=stream): the queue is the single partition
// of a Kafka topic of the same name, created with the queue or adopted if
// a one-partition topic of that name exists; see internal/stream.

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/loftmq/loft/internal/amqp/frame"
	"github.com/loftmq/loft/internal/broker"
	"github.com/loftmq/loft/internal/stream"
)

// ErrNotImplemented: what RabbitMQ answers with 540 NOT_IMPLEMENTED, such
// as basic.get on a stream.
var ErrNotImplemented = fmt.Errorf("vhost: not implemented")

// queueType reads x-queue-type: classic (the default) and quorum are the
// same queue here (quorum becomes replicated with clustering); stream is
// a stream queue.
func queueType(args frame.Table) (string, error) {
	v, ok := args.Get("x-queue-type")
	if !ok {
		return "classic", nil
	}
	s, _ := v.(string)
	switch s {
	case "classic", "quorum", "stream":
		return s, nil
	}
	return "", fmt.Errorf("%w: invalid arg 'x-queue-type': %v (classic, quorum or stream)", ErrArgument, v)
}

// IsStream reports whether q is a stream queue.
func (q *Queue) IsStream() bool {
	_, ok := q.q.(*stream.Queue)
	return ok
}

// checkStream checks a stream queue's declaration as RabbitMQ does: always
// durable, never exclusive nor auto-delete, a name Kafka accepts, and its
// retention arguments valid.
func checkStream(d QueueDecl) error {
	switch {
	case !d.Durable:
		return fmt.Errorf("%w: invalid property 'non-durable' for queue '%s': stream queues are always durable", ErrArgument, d.Name)
	case d.Exclusive:
		return fmt.Errorf("%w: invalid property 'exclusive' for queue '%s': stream queues cannot be exclusive", ErrArgument, d.Name)
	case d.AutoDelete:
		return fmt.Errorf("%w: invalid property 'auto-delete' for queue '%s': stream queues cannot be auto-delete", ErrArgument, d.Name)
	case d.Name == "":
		return fmt.Errorf("%w: a stream queue needs a name", ErrArgument)
	}
	if _, err := streamConfigs(d.Args); err != nil {
		return err
	}
	return nil
}

// streamConfigs maps a stream's arguments to its topic's configs:
// x-max-age to retention.ms, x-max-length-bytes to retention.bytes,
// x-stream-max-segment-size-bytes to segment.bytes.
func streamConfigs(args frame.Table) (map[string]string, error) {
	set := map[string]string{}
	if v, ok := args.Get("x-max-age"); ok {
		s, _ := v.(string)
		age, err := parseAge(s)
		if err != nil {
			return nil, fmt.Errorf("%w: invalid arg 'x-max-age': %v (a number and a unit of Y, M, D, h, m or s)", ErrArgument, v)
		}
		set["retention.ms"] = strconv.FormatInt(age.Milliseconds(), 10)
	}
	for arg, config := range map[string]string{"x-max-length-bytes": "retention.bytes", "x-stream-max-segment-size-bytes": "segment.bytes"} {
		if v, ok := args.Get(arg); ok {
			n, isInt := asInt(v)
			if !isInt || n <= 0 {
				return nil, fmt.Errorf("%w: invalid arg '%s': %v", ErrArgument, arg, v)
			}
			set[config] = strconv.FormatInt(n, 10)
		}
	}
	return set, nil
}

// parseAge reads RabbitMQ's x-max-age: a positive number and a unit, Y
// (365 days), M (30 days), D, h, m or s.
func parseAge(s string) (time.Duration, error) {
	if len(s) < 2 {
		return 0, fmt.Errorf("bad age %q", s)
	}
	n, err := strconv.ParseInt(s[:len(s)-1], 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("bad age %q", s)
	}
	unit := map[byte]time.Duration{'Y': 365 * 24 * time.Hour, 'M': 30 * 24 * time.Hour, 'D': 24 * time.Hour,
		'h': time.Hour, 'm': time.Minute, 's': time.Second}[s[len(s)-1]]
	if unit == 0 || n > int64((1<<62)/unit) {
		return 0, fmt.Errorf("bad age %q", s)
	}
	return time.Duration(n) * unit, nil
}

// openStream opens q's topic, creating it when create and it does not
// exist; at a restart a missing topic (deleted through Kafka) is made
// again, empty.
func (h *Hosts) openStream(q *Queue, create bool) error {
	b := h.opts.Broker
	if b == nil {
		return fmt.Errorf("%w: stream queues need the broker's topics", ErrNotImplemented)
	}
	configs, err := streamConfigs(q.Effective())
	if err != nil {
		return err
	}
	t, ok := b.Topic(q.Name)
	if ok && t.NumPartitions() != 1 {
		return fmt.Errorf("%w: topic '%s' has %d partitions; a stream queue is a topic of one", ErrInUse, q.Name, t.NumPartitions())
	}
	if !ok {
		if !create {
			h.logger.Warn("vhost: a stream queue's topic is gone; making it again, empty", "queue", q.Name)
		}
		if t, err = b.CreateTopic(context.Background(), broker.TopicSpec{Name: q.Name, Partitions: 1, Configs: configs}, false); err != nil {
			return fmt.Errorf("%w: stream %s: %v", ErrArgument, q.Name, err)
		}
	} else if create && len(configs) > 0 {
		ops := make([]broker.ConfigOp, 0, len(configs))
		for k, v := range configs {
			ops = append(ops, broker.ConfigOp{Name: k, Value: v, Op: broker.ConfigSet})
		}
		if err := b.AlterTopicConfigs(context.Background(), q.Name, ops, false); err != nil {
			return fmt.Errorf("%w: stream %s: %v", ErrArgument, q.Name, err)
		}
	}
	p, _ := t.Partition(0)
	q.q = stream.New(q.Name, p, h.logger)
	return nil
}

// alterStream sets a stream's topic configs to what its arguments and
// policy say, after a policy change.
func (h *Hosts) alterStream(q *Queue) {
	configs, err := streamConfigs(q.Effective())
	if err != nil {
		return
	}
	var ops []broker.ConfigOp
	for _, name := range []string{"retention.ms", "retention.bytes", "segment.bytes"} {
		if v, ok := configs[name]; ok {
			ops = append(ops, broker.ConfigOp{Name: name, Value: v, Op: broker.ConfigSet})
		} else {
			ops = append(ops, broker.ConfigOp{Name: name, Op: broker.ConfigDelete})
		}
	}
	if err := h.opts.Broker.AlterTopicConfigs(context.Background(), q.Name, ops, false); err != nil {
		h.logger.Warn("vhost: cannot apply a policy to a stream's topic", "queue", q.Name, "err", err)
	}
}

// dropStream deletes a deleted stream queue's topic.
func (h *Hosts) dropStream(q *Queue) {
	if err := h.opts.Broker.DeleteTopic(context.Background(), q.Name); err != nil {
		h.logger.Warn("vhost: cannot delete a stream queue's topic", "queue", q.Name, "err", err)
	}
}

// StreamOffset reads a stream consumer's x-stream-offset: "first",
// "last", "next" (the default), an offset, a timestamp, or an interval
// back from now in x-max-age's syntax ("1h").
func StreamOffset(args frame.Table, now time.Time) (stream.Offset, error) {
	v, ok := args.Get("x-stream-offset")
	if !ok {
		return stream.Offset{Kind: stream.Next}, nil
	}
	if n, isInt := asInt(v); isInt && n >= 0 {
		return stream.Offset{Kind: stream.At, Value: n}, nil
	}
	switch o := v.(type) {
	case time.Time:
		return stream.Offset{Kind: stream.Since, Value: o.UnixMilli()}, nil
	case string:
		switch strings.ToLower(o) {
		case "first":
			return stream.Offset{Kind: stream.First}, nil
		case "last":
			return stream.Offset{Kind: stream.Last}, nil
		case "next":
			return stream.Offset{Kind: stream.Next}, nil
		}
		if age, err := parseAge(o); err == nil {
			return stream.Offset{Kind: stream.Since, Value: now.Add(-age).UnixMilli()}, nil
		}
	}
	return stream.Offset{}, fmt.Errorf("%w: invalid arg 'x-stream-offset': %v", ErrArgument, v)
}

// ConsumeStream adds c to the stream queue q, reading from from.
func (v *Vhost) ConsumeStream(q *Queue, c Consumer, from stream.Offset) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	s, ok := q.q.(*stream.Queue)
	if v.queues[q.Name] != q || !ok {
		return fmt.Errorf("%w: no stream queue '%s' in vhost '%s'", ErrNotFound, q.Name, v.name)
	}
	if err := s.Subscribe(c, from); err != nil {
		return fmt.Errorf("%w: %v", ErrStorage, err)
	}
	q.consumed = true
	return nil
}
