package vhost

// Deduplication, with the names of the rabbitmq-message-deduplication
// plugin: an exchange of type x-message-deduplication routes like fanout
// but drops a message whose x-deduplication-header value it has seen
// within x-cache-ttl (the exchange's, or the message's own x-cache-ttl
// header), remembering at most x-cache-size values. With the exchange
// argument x-deduplication-message-id (Loft's own), a message without
// the header is keyed by its message-id property. A duplicate is
// confirmed to its publisher like any accepted message.
//
// A queue declared with x-message-deduplication true does not enqueue a
// message whose x-deduplication-header value is that of a message it
// holds (queue/dedup.go); x-cache-size, if given, bounds the keys it
// remembers.
//
// A durable exchange's cache survives restarts: each new value is
// appended to a log of its own (__dedup.<id>), without waiting for fsync,
// and replayed at start; the log is trimmed behind the oldest value kept.

import (
	"container/list"
	"encoding/binary"
	"fmt"
	"sync"
	"time"

	"github.com/loftmq/loft/internal/amqp/frame"
	"github.com/loftmq/loft/internal/logstore"
	"github.com/loftmq/loft/internal/queue"
)

const dedupKind = "x-message-deduplication"

// dedupCache is one exchange's set of recently seen keys.
type dedupCache struct {
	size      int
	ttl       int64 // ms; 0: keep until evicted
	messageID bool  // key messages without the header by message-id

	mu      sync.Mutex
	entries map[string]*list.Element
	order   *list.List // of *dedupEntry, oldest first
	log     *logstore.Log
	trimmed time.Time
}

type dedupEntry struct {
	key     string
	expires int64 // ms; 0: never
	offset  int64 // in the log, -1 when not logged
}

// newDedupCache reads the exchange's arguments.
func newDedupCache(args frame.Table) (*dedupCache, error) {
	v, ok := args.Get("x-cache-size")
	size, isInt := asInt(v)
	if !ok || !isInt || size <= 0 {
		return nil, fmt.Errorf("%w: x-message-deduplication needs a positive integer x-cache-size", ErrArgument)
	}
	c := &dedupCache{size: int(size), entries: make(map[string]*list.Element), order: list.New()}
	if v, ok := args.Get("x-cache-ttl"); ok {
		ttl, isInt := asInt(v)
		if !isInt || ttl < 0 {
			return nil, fmt.Errorf("%w: invalid arg 'x-cache-ttl': %v", ErrArgument, v)
		}
		c.ttl = ttl
	}
	if v, ok := args.Get("x-deduplication-message-id"); ok {
		c.messageID, _ = v.(bool)
	}
	return c, nil
}

// key returns what deduplicates p, if anything.
func (c *dedupCache) key(p *Publishing) (string, bool) {
	if k, ok := headerKey(p.Headers); ok {
		return k, true
	}
	if c.messageID && p.MessageID != "" {
		return p.MessageID, true
	}
	return "", false
}

// headerKey returns the x-deduplication-header value of headers, as a
// string, if it has one.
func headerKey(headers frame.Table) (string, bool) {
	v, ok := headers.Get("x-deduplication-header")
	if !ok {
		return "", false
	}
	switch k := v.(type) {
	case string:
		return k, k != ""
	case []byte:
		return string(k), len(k) > 0
	case nil:
		return "", false
	}
	return fmt.Sprint(v), true
}

// storedKey reads the deduplication key of a stored message back from its
// properties, for a deduplicating queue being opened.
func storedKey(m *queue.Message) string {
	p, err := frame.DecodeProperties(m.Properties)
	if err != nil {
		return ""
	}
	k, _ := headerKey(p.Headers)
	return k
}

// queueDedup reads a queue's x-message-deduplication and, with it, the
// optional bound x-cache-size.
func queueDedup(args frame.Table) (on bool, limit int, err error) {
	v, ok := args.Get("x-message-deduplication")
	if !ok {
		return false, 0, nil
	}
	if on, ok = v.(bool); !ok {
		return false, 0, fmt.Errorf("%w: invalid arg 'x-message-deduplication': %v", ErrArgument, v)
	}
	if v, ok := args.Get("x-cache-size"); ok && on {
		n, isInt := asInt(v)
		if !isInt || n <= 0 {
			return false, 0, fmt.Errorf("%w: invalid arg 'x-cache-size': %v", ErrArgument, v)
		}
		limit = int(n)
	}
	return on, limit, nil
}

// seen reports whether p duplicates a message seen before; if not, it
// remembers p.
func (c *dedupCache) seen(p *Publishing, now time.Time) bool {
	key, ok := c.key(p)
	if !ok {
		return false
	}
	ttl := c.ttl
	if v, ok := p.Headers.Get("x-cache-ttl"); ok {
		if n, isInt := asInt(v); isInt && n >= 0 {
			ttl = n
		}
	}
	ms := now.UnixMilli()
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.entries[key]; ok {
		d := e.Value.(*dedupEntry)
		if d.expires == 0 || d.expires > ms {
			return true
		}
		c.order.Remove(e)
		delete(c.entries, key)
	}
	d := &dedupEntry{key: key, offset: -1}
	if ttl > 0 {
		d.expires = ms + ttl
	}
	if c.log != nil {
		rec := [1]logstore.Record{{Timestamp: ms, Key: []byte(key), Value: binary.BigEndian.AppendUint64(nil, uint64(d.expires))}}
		d.offset = c.log.AppendAsync(logstore.AppendBatch(nil, logstore.BatchOptions{ProducerID: -1}, rec[:]), func(int64, error) {})
	}
	c.add(d)
	c.trim(now)
	return false
}

// add remembers d, evicting the oldest entries past the size. c.mu is held.
func (c *dedupCache) add(d *dedupEntry) {
	if e, ok := c.entries[d.key]; ok {
		c.order.Remove(e)
	}
	c.entries[d.key] = c.order.PushBack(d)
	for c.order.Len() > c.size {
		front := c.order.Front()
		delete(c.entries, front.Value.(*dedupEntry).key)
		c.order.Remove(front)
	}
}

// trim drops, at most once a second, the log's records behind the oldest
// entry kept. c.mu is held.
func (c *dedupCache) trim(now time.Time) {
	if c.log == nil || now.Sub(c.trimmed) < time.Second {
		return
	}
	front := c.order.Front()
	if front == nil {
		return
	}
	to := min(front.Value.(*dedupEntry).offset, c.log.HighWatermark())
	if to <= c.log.StartOffset() {
		return
	}
	c.trimmed = now
	log := c.log
	// A failed trim leaves the records for the next one.
	go func() { log.DeleteRecordsBefore(to) }()
}

// replay loads the entries recorded in the log that have not expired.
func (c *dedupCache) replay(now time.Time) error {
	ms := now.UnixMilli()
	var buf []byte
	for off := c.log.StartOffset(); off < c.log.HighWatermark(); {
		var err error
		buf, err = c.log.Read(buf[:0], off, 1<<20)
		if err != nil {
			return err
		}
		if len(buf) == 0 {
			break
		}
		from := off
		for _, b := range logstore.SplitBatches(buf) {
			recs, err := logstore.DecodeRecords(b)
			if err != nil {
				return err
			}
			for _, r := range recs {
				if r.Offset < off {
					continue
				}
				off = r.Offset + 1
				if len(r.Value) != 8 {
					continue
				}
				expires := int64(binary.BigEndian.Uint64(r.Value))
				if expires == 0 || expires > ms {
					c.add(&dedupEntry{key: string(r.Key), expires: expires, offset: r.Offset})
				}
			}
		}
		if off == from {
			break
		}
	}
	return nil
}
