package broker

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/loftmq/loft/internal/meta"
)

// Topic is a named set of partitions with one configuration. A Topic
// stays valid after DeleteTopic, but its partitions then refuse produce and
// reads.
type Topic struct {
	b       *Broker
	name    string
	id      [16]byte
	created int64 // ms since the epoch

	cfg atomic.Pointer[topicConfig]

	mu      sync.RWMutex
	parts   []*Partition
	nparts  int32 // partitions of a validate-only topic, which has no logs
	deleted bool
}

// TopicSpec describes a topic to create.
type TopicSpec struct {
	Name       string
	Partitions int32             // -1: Options.DefaultPartitions
	Configs    map[string]string // topic configs; unknown or invalid → ErrInvalidConfig
}

// Name returns the topic's name.
func (t *Topic) Name() string { return t.name }

// ID returns the topic's id: a random UUID, stable across restarts.
func (t *Topic) ID() [16]byte { return t.id }

// Partitions returns the topic's partitions in index order. A topic
// returned by a validate-only CreateTopic has none: see NumPartitions.
func (t *Topic) Partitions() []*Partition {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return append([]*Partition(nil), t.parts...)
}

// NumPartitions returns the number of partitions, including those a
// validate-only CreateTopic would create.
func (t *Topic) NumPartitions() int32 {
	t.mu.RLock()
	defer t.mu.RUnlock()
	if t.parts == nil {
		return t.nparts
	}
	return int32(len(t.parts))
}

// Partition returns partition i.
func (t *Topic) Partition(i int32) (*Partition, bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	if i < 0 || int(i) >= len(t.parts) {
		return nil, false
	}
	return t.parts[i], true
}

// Configs returns every supported topic config, sorted by name, defaults
// included and flagged.
func (t *Topic) Configs() []ConfigEntry { return t.cfg.Load().entries() }

// Deleted reports whether the topic has been deleted.
func (t *Topic) Deleted() bool {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.deleted
}

// Topic names follow Kafka's rules; names beginning with "__" are refused
// too, because Loft reserves them for internal logs (__meta) and Kafka's own
// internal topics (__consumer_offsets, __transaction_state) are not topics
// here.
const maxTopicName = 249

// maxPartitions bounds a topic's partitions so that every log name,
// "<topic>-<index>", fits the log engine's 255 bytes: 249+1+4.
const maxPartitions = 10000

func checkTopicName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: the name is empty", ErrInvalidTopic)
	case len(name) > maxTopicName:
		return fmt.Errorf("%w: %d characters, at most %d", ErrInvalidTopic, len(name), maxTopicName)
	case name == "." || name == "..":
		return fmt.Errorf("%w: %q is not allowed", ErrInvalidTopic, name)
	case strings.HasPrefix(name, "__"):
		return fmt.Errorf("%w: %q: names beginning with \"__\" are reserved for internal use", ErrInvalidTopic, name)
	}
	for _, c := range []byte(name) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("%w: %q: only ASCII letters, digits, '.', '_' and '-' are allowed", ErrInvalidTopic, name)
		}
	}
	return nil
}

// collisionName is what Kafka compares to refuse topics that differ only
// by '.' and '_', which its metric names cannot tell apart.
func collisionName(name string) string { return strings.ReplaceAll(name, ".", "_") }

// logName is the name of a partition's log.
func logName(topic string, i int32) string { return topic + "-" + strconv.Itoa(int(i)) }

// parseLogName splits a log name made by logName; ok is false for any other
// name (internal logs such as __meta, and logs of other kinds).
func parseLogName(name string) (topic string, i int32, ok bool) {
	dash := strings.LastIndexByte(name, '-')
	if dash <= 0 || strings.HasPrefix(name, "__") {
		return "", 0, false
	}
	topic, num := name[:dash], name[dash+1:]
	n, err := strconv.ParseInt(num, 10, 32)
	if err != nil || n < 0 || strconv.FormatInt(n, 10) != num || checkTopicName(topic) != nil {
		return "", 0, false
	}
	return topic, int32(n), true
}

// topicRecord is a topic as stored in meta under meta.Key("topic", name).
type topicRecord struct {
	Version    int               `json:"version"`
	ID         string            `json:"id"` // 32 hex digits
	Partitions int32             `json:"partitions"`
	Configs    map[string]string `json:"configs,omitempty"` // set on the topic; defaults are not stored
	Created    int64             `json:"created"`           // ms since the epoch
}

func topicKey(name string) string { return meta.Key("topic", name) }

func (t *Topic) record(partitions int32, set map[string]string) []byte {
	v, _ := json.Marshal(topicRecord{
		Version: 1, ID: hex.EncodeToString(t.id[:]), Partitions: partitions,
		Configs: set, Created: t.created,
	})
	return v
}

func parseTopicRecord(v []byte) (topicRecord, [16]byte, error) {
	var r topicRecord
	var id [16]byte
	if err := json.Unmarshal(v, &r); err != nil {
		return r, id, err
	}
	if r.Version != 1 {
		return r, id, fmt.Errorf("version %d, want 1", r.Version)
	}
	b, err := hex.DecodeString(r.ID)
	if err != nil || len(b) != 16 {
		return r, id, fmt.Errorf("bad id %q", r.ID)
	}
	copy(id[:], b)
	if r.Partitions < 1 || r.Partitions > maxPartitions {
		return r, id, fmt.Errorf("%d partitions", r.Partitions)
	}
	return r, id, nil
}

// newTopicID returns a random version 4 UUID.
func newTopicID() [16]byte {
	var id [16]byte
	rand.Read(id[:])
	id[6] = id[6]&0x0f | 0x40
	id[8] = id[8]&0x3f | 0x80
	return id
}
