package vhost

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/loftmq/loft/internal/amqp/frame"
	"github.com/loftmq/loft/internal/meta"
)

// Key kinds of the topology in meta.
const (
	kindExchange = "amqp-exchange"
	kindQueue    = "amqp-queue"
	kindBinding  = "amqp-binding"
)

type exchangeRecord struct {
	Version    int    `json:"version"`
	Type       string `json:"type"`
	AutoDelete bool   `json:"auto_delete,omitempty"`
	Internal   bool   `json:"internal,omitempty"`
	Args       []byte `json:"args,omitempty"`     // an AMQP field table, encoded
	DedupID    string `json:"dedup_id,omitempty"` // names the log of an x-message-deduplication cache
	DelayID    string `json:"delay_id,omitempty"` // names the logs of an x-delayed-message exchange
}

type queueRecord struct {
	Version    int    `json:"version"`
	ID         string `json:"id"` // names the logs: __q.<id>
	AutoDelete bool   `json:"auto_delete,omitempty"`
	Args       []byte `json:"args,omitempty"`
}

type bindingRecord struct {
	Version int    `json:"version"`
	Source  string `json:"source"`
	Dest    string `json:"dest"`
	ToQueue bool   `json:"to_queue"`
	ToTopic bool   `json:"to_topic,omitempty"`
	Key     string `json:"key"`
	Args    []byte `json:"args,omitempty"`
}

func encodeTable(t frame.Table) []byte {
	if len(t) == 0 {
		return nil
	}
	w := frame.NewWriter(nil)
	w.Table(t)
	return w.Bytes()
}

func decodeTable(b []byte) (frame.Table, error) {
	if len(b) == 0 {
		return nil, nil
	}
	r := frame.NewReader(b)
	t := r.Table()
	return t, r.Err()
}

func exchangeKey(vhost, name string) string { return meta.Key(kindExchange, vhost, name) }
func queueKey(vhost, name string) string    { return meta.Key(kindQueue, vhost, name) }

// bindingKey identifies a binding; the arguments are part of its identity,
// so their encoding is too.
func bindingKey(vhost string, b bindingRecord) string {
	kind := "e"
	switch {
	case b.ToQueue:
		kind = "q"
	case b.ToTopic:
		kind = "t"
	}
	return meta.Key(kindBinding, vhost, b.Source, kind, b.Dest, b.Key, fmt.Sprintf("%x", b.Args))
}

func put(key string, v any) meta.Op {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // the records are plain structs
	}
	return meta.Put(key, b)
}

func (v *Vhost) apply(ops ...meta.Op) error {
	if len(ops) == 0 {
		return nil
	}
	if err := v.h.md.Apply(context.Background(), ops...); err != nil {
		return fmt.Errorf("%w: %v", ErrStorage, err)
	}
	return nil
}
