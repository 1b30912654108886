package group

import (
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/loftmq/loft/internal/meta"
)

// Options configures a Coordinator. The zero value works: Kafka's defaults.
type Options struct {
	Logger *slog.Logger     // default slog.Default()
	Now    func() time.Time // commit timestamps; default time.Now

	// InitialRebalanceDelay is Kafka's group.initial.rebalance.delay.ms:
	// the first rebalance of an empty group waits this long (extended by
	// each member that joins meanwhile, up to the rebalance timeout) so
	// that consumers starting together land in one generation. Kafka's
	// default is 3s; ours is 0, no delay.
	InitialRebalanceDelay time.Duration

	// MinSessionTimeout and MaxSessionTimeout bound the session timeout a
	// member may ask for (Kafka's group.min.session.timeout.ms and
	// group.max.session.timeout.ms); outside them JoinGroup answers
	// INVALID_SESSION_TIMEOUT. Defaults 6s and 30min, as in Kafka.
	MinSessionTimeout time.Duration
	MaxSessionTimeout time.Duration
}

// Defaults of Options.
const (
	DefaultMinSessionTimeout = 6 * time.Second
	DefaultMaxSessionTimeout = 30 * time.Minute
)

// MaxOffsetMetadataBytes is Kafka's offset.metadata.max.bytes: a commit
// whose metadata is longer gets OFFSET_METADATA_TOO_LARGE.
const MaxOffsetMetadataBytes = 4096

// Coordinator is the group coordinator of one broker: every group's
// membership in memory, and committed offsets in meta. It is safe for
// concurrent use.
//
// Locks: mu guards the map of groups and closed; each group has its own
// mutex. mu may be held while taking a group's, never the other way round,
// and no lock is held across a meta write.
type Coordinator struct {
	md   *meta.Store
	opts Options
	log  *slog.Logger

	mu     sync.Mutex
	groups map[string]*group
	closed bool
}

// New returns a coordinator whose committed offsets live in md. Offsets are
// read from md itself (its state is in memory), so nothing is cached here
// that a restart could lose; New checks that every stored offset decodes.
func New(md *meta.Store, opts Options) (*Coordinator, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.MinSessionTimeout <= 0 {
		opts.MinSessionTimeout = DefaultMinSessionTimeout
	}
	if opts.MaxSessionTimeout <= 0 {
		opts.MaxSessionTimeout = DefaultMaxSessionTimeout
	}
	c := &Coordinator{md: md, opts: opts, log: opts.Logger, groups: make(map[string]*group)}
	groups, offsets, bad := 0, 0, 0
	last := ""
	for _, kv := range md.Scan(meta.Prefix(groupKind)) {
		g, _, _, ok := parseOffsetKey(kv.Key)
		if !ok {
			continue // some other record about a group, not ours to judge
		}
		if _, err := decodeOffset(kv.Value); err != nil {
			bad++
			c.log.Warn("group: undecodable committed offset", "key", kv.Key, "err", err)
			continue
		}
		offsets++
		if g != last {
			groups++
			last = g
		}
	}
	c.log.Debug("group: committed offsets loaded", "groups", groups, "offsets", offsets, "bad", bad)
	return c, nil
}

// Close answers every waiting JoinGroup and SyncGroup with
// COORDINATOR_NOT_AVAILABLE, stops all timers, and makes every later call
// answer COORDINATOR_NOT_AVAILABLE. Committed offsets are already durable.
func (c *Coordinator) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	groups := make([]*group, 0, len(c.groups))
	for _, g := range c.groups {
		groups = append(groups, g)
	}
	c.groups = make(map[string]*group)
	c.mu.Unlock()
	for _, g := range groups {
		g.mu.Lock()
		g.kill(kerr.CoordinatorNotAvailable.Code)
		g.mu.Unlock()
	}
	return nil
}

// lookup returns the named group, locked, creating it if create is set.
// It returns nil and COORDINATOR_NOT_AVAILABLE after Close, and nil and 0
// when the group does not exist and create is not set.
func (c *Coordinator) lookup(name string, create bool) (*group, int16) {
	for {
		c.mu.Lock()
		if c.closed {
			c.mu.Unlock()
			return nil, kerr.CoordinatorNotAvailable.Code
		}
		g := c.groups[name]
		if g == nil && create {
			g = newGroup(c, name)
			c.groups[name] = g
		}
		c.mu.Unlock()
		if g == nil {
			return nil, 0
		}
		g.mu.Lock()
		if !g.dead {
			return g, 0
		}
		// Deleted (or closed) between the map lookup and the lock: look
		// again, which finds its successor, nothing, or closed.
		g.mu.Unlock()
	}
}

// isClosed reports whether Close has been called.
func (c *Coordinator) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

// newMemberID returns a fresh member id, "<prefix>-<uuid>" like Kafka's:
// the client id for dynamic members, the instance id for static ones.
func newMemberID(clientID string, instanceID *string) string {
	prefix := clientID
	if instanceID != nil {
		prefix = *instanceID
	}
	var u [16]byte
	_, _ = rand.Read(u[:]) // crypto/rand.Read never fails (Go 1.24+)
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	var b [36]byte
	hex.Encode(b[0:8], u[0:4])
	b[8] = '-'
	hex.Encode(b[9:13], u[4:6])
	b[13] = '-'
	hex.Encode(b[14:18], u[6:8])
	b[18] = '-'
	hex.Encode(b[19:23], u[8:10])
	b[23] = '-'
	hex.Encode(b[24:], u[10:])
	return prefix + "-" + string(b[:])
}

// sortedKeys returns the keys of m in order: member lists and logs are
// deterministic even though groups keep members in maps.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
