package group

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/loftmq/loft/internal/meta"
)

// Committed offsets live in meta, one key per group and partition:
//
//	group/<group>/offset/<topic>/<partition>  →  offsetValue as JSON
//
// meta keeps its whole state in memory, so reads go to it directly and
// this package caches nothing that could disagree with the log (an Apply
// whose caller stopped waiting may still land, and meta alone knows).
const (
	groupKind  = "group"
	offsetKind = "offset"
)

// offsetValue is the stored form of one committed offset. V is the
// encoding's version: 1. Readers ignore fields they do not know, so later
// versions may add some.
type offsetValue struct {
	V           int     `json:"v"`
	Offset      int64   `json:"offset"`
	LeaderEpoch int32   `json:"leaderEpoch"`
	Metadata    *string `json:"metadata"`
	CommitTime  int64   `json:"commitTime"` // Unix milliseconds
}

func offsetKey(group, topic string, partition int32) string {
	return meta.Key(groupKind, group, offsetKind, topic, strconv.FormatInt(int64(partition), 10))
}

// parseOffsetKey splits an offset key; ok is false for any other key.
func parseOffsetKey(key string) (group, topic string, partition int32, ok bool) {
	parts, err := meta.SplitKey(key)
	if err != nil || len(parts) != 5 || parts[0] != groupKind || parts[2] != offsetKind {
		return "", "", 0, false
	}
	p, err := strconv.ParseInt(parts[4], 10, 32)
	if err != nil {
		return "", "", 0, false
	}
	return parts[1], parts[3], int32(p), true
}

func decodeOffset(b []byte) (offsetValue, error) {
	var v offsetValue
	if err := json.Unmarshal(b, &v); err != nil {
		return v, fmt.Errorf("group: decode committed offset: %w", err)
	}
	if v.V != 1 {
		return v, fmt.Errorf("group: committed offset of unknown version %d", v.V)
	}
	return v, nil
}

// Commit stores offsets for a group (OffsetCommit), validated like Kafka:
// a commit with generation -1, no member id and no instance id comes from
// an admin or a consumer without group management, and is taken only
// while the group has no members (ILLEGAL_GENERATION otherwise, as in
// Kafka); any other commit must come from a current member
// (FENCED_INSTANCE_ID, UNKNOWN_MEMBER_ID) of the current generation
// (ILLEGAL_GENERATION), not while the generation is being synced
// (REBALANCE_IN_PROGRESS). A group-level error is also returned as the
// first result and set on every partition.
//
// The accepted offsets are written in one meta.Apply, atomic and durable
// when Commit returns; only a request beyond one Apply's limits
// (meta.MaxOps partitions, meta.MaxBatchBytes) is split into several, each
// atomic. A partition whose metadata exceeds MaxOffsetMetadataBytes gets
// OFFSET_METADATA_TOO_LARGE and is not written.
func (c *Coordinator) Commit(ctx context.Context, group, memberID string, instanceID *string, generation int32, offsets []OffsetCommit) (int16, []int16) {
	per := make([]int16, len(offsets))
	fail := func(code int16) (int16, []int16) {
		for i := range per {
			per[i] = code
		}
		return code, per
	}
	g, code := c.lookup(group, false)
	if code != 0 {
		return fail(code)
	}
	simple := generation < 0 && memberID == "" && instanceID == nil
	switch {
	case g != nil:
		code = g.checkCommit(simple, memberID, instanceID, generation)
		g.mu.Unlock()
	case !simple:
		code = kerr.UnknownMemberID.Code
	}
	if code != 0 {
		return fail(code)
	}

	now := c.opts.Now().UnixMilli()
	var ops []meta.Op
	var idx []int // offsets index of each op
	for i, o := range offsets {
		if o.Metadata != nil && len(*o.Metadata) > MaxOffsetMetadataBytes {
			per[i] = kerr.OffsetMetadataTooLarge.Code
			continue
		}
		md := ""
		if o.Metadata != nil {
			md = *o.Metadata
		}
		v, err := json.Marshal(offsetValue{V: 1, Offset: o.Offset, LeaderEpoch: o.LeaderEpoch, Metadata: &md, CommitTime: now})
		if err != nil {
			per[i] = kerr.UnknownServerError.Code // cannot happen for these types
			continue
		}
		ops = append(ops, meta.Put(offsetKey(group, o.Topic, o.Partition), v))
		idx = append(idx, i)
	}
	c.applyChunks(ctx, ops, func(from, to int, err error) {
		c.log.Warn("group: committing offsets failed", "group", group, "offsets", to-from, "err", err)
		for _, i := range idx[from:to] {
			per[i] = storageCode(err)
		}
	})
	return 0, per
}

// checkCommit validates a commit against the group's membership, under
// g.mu; a member's commit counts as a heartbeat.
func (g *group) checkCommit(simple bool, memberID string, instanceID *string, generation int32) int16 {
	if simple {
		if len(g.members) > 0 {
			return kerr.IllegalGeneration.Code
		}
		return 0
	}
	m, code := g.check(memberID, instanceID, generation)
	if code != 0 {
		return code
	}
	g.heartbeat(m)
	if g.state == stateCompleting {
		// The member has its new generation but not yet its
		// assignment: it must not commit for partitions it may lose.
		return kerr.RebalanceInProgress.Code
	}
	return 0
}

// applyChunks writes ops with as few Applies as meta's limits allow (one,
// normally), calling failed for each range of ops whose Apply failed.
func (c *Coordinator) applyChunks(ctx context.Context, ops []meta.Op, failed func(from, to int, err error)) {
	for from := 0; from < len(ops); {
		to, size := from, 0
		for to < len(ops) && to-from < meta.MaxOps {
			n := len(ops[to].Key) + len(ops[to].Value)
			if to > from && size+n > meta.MaxBatchBytes {
				break
			}
			size += n
			to++
		}
		if err := c.md.Apply(ctx, ops[from:to]...); err != nil {
			failed(from, to, err)
		}
		from = to
	}
}

// storageCode maps a failed meta write to the code Kafka's coordinator
// gives for a failed write to its offsets log.
func storageCode(err error) int16 {
	switch {
	case errors.Is(err, meta.ErrClosed):
		return kerr.CoordinatorNotAvailable.Code
	case errors.Is(err, meta.ErrTooLarge), errors.Is(err, meta.ErrTooManyOps), errors.Is(err, meta.ErrBadKey):
		return kerr.InvalidCommitOffsetSize.Code
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return kerr.RequestTimedOut.Code
	default:
		// Kafka answers a failed write to __consumer_offsets with
		// NOT_COORDINATOR, which makes clients look again and retry.
		return kerr.NotCoordinator.Code
	}
}

// Fetch returns committed offsets (OffsetFetch): for the partitions asked
// for, in the order asked (topics sorted by name), with offset -1 for a
// partition that has none; for a nil map, every committed offset of the
// group, sorted by topic and partition. Membership is not checked.
func (c *Coordinator) Fetch(group string, topics map[string][]int32) []CommittedOffset {
	closed := c.isClosed()
	if topics == nil {
		if closed {
			return nil
		}
		var out []CommittedOffset
		for _, kv := range c.md.Scan(meta.Prefix(groupKind, group, offsetKind)) {
			_, topic, p, ok := parseOffsetKey(kv.Key)
			if !ok {
				continue
			}
			out = append(out, c.committed(topic, p, kv.Value, true))
		}
		slices.SortFunc(out, func(a, b CommittedOffset) int {
			return cmp.Or(cmp.Compare(a.Topic, b.Topic), cmp.Compare(a.Partition, b.Partition))
		})
		return out
	}
	var out []CommittedOffset
	for _, topic := range sortedKeys(topics) {
		for _, p := range topics[topic] {
			if closed {
				out = append(out, CommittedOffset{Topic: topic, Partition: p, Offset: -1, LeaderEpoch: -1, Err: kerr.CoordinatorNotAvailable.Code})
				continue
			}
			v, ok := c.md.Get(offsetKey(group, topic, p))
			out = append(out, c.committed(topic, p, v, ok))
		}
	}
	return out
}

// committed decodes one stored offset; none (or an undecodable one, which
// is logged) reads as offset -1, as Kafka answers for nothing committed.
func (c *Coordinator) committed(topic string, p int32, v []byte, ok bool) CommittedOffset {
	empty := ""
	co := CommittedOffset{Topic: topic, Partition: p, Offset: -1, LeaderEpoch: -1, Metadata: &empty}
	if !ok {
		return co
	}
	ov, err := decodeOffset(v)
	if err != nil {
		c.log.Warn("group: undecodable committed offset", "topic", topic, "partition", p, "err", err)
		return co
	}
	co.Offset, co.LeaderEpoch = ov.Offset, ov.LeaderEpoch
	if ov.Metadata != nil {
		co.Metadata = ov.Metadata
	}
	return co
}

// DeleteOffsets deletes committed offsets (OffsetDelete), durably when it
// returns. An Empty group loses any of them; a group with members only
// those of topics none of its members subscribes to
// (GROUP_SUBSCRIBED_TO_TOPIC for the others), which is known only for
// protocol type "consumer", whose member metadata is the standard
// ConsumerMemberMetadata: any other group with members answers
// NON_EMPTY_GROUP, and so does a consumer group whose metadata does not
// parse. A group with neither members nor offsets is GROUP_ID_NOT_FOUND.
func (c *Coordinator) DeleteOffsets(ctx context.Context, group string, topics map[string][]int32) (int16, map[string]map[int32]int16) {
	g, code := c.lookup(group, false)
	if code != 0 {
		return code, nil
	}
	var subscribed map[string]bool
	if g != nil {
		if g.state != stateEmpty {
			var all bool
			subscribed, all = g.subscribedTopics()
			if g.protocolType != consumerProtocolType || all {
				g.mu.Unlock()
				return kerr.NonEmptyGroup.Code, nil
			}
		}
		g.mu.Unlock()
	} else if !c.hasOffsets(group) {
		return kerr.GroupIDNotFound.Code, nil
	}

	per := make(map[string]map[int32]int16, len(topics))
	type tp struct {
		topic string
		p     int32
	}
	var ops []meta.Op
	var which []tp
	for _, topic := range sortedKeys(topics) {
		per[topic] = make(map[int32]int16, len(topics[topic]))
		for _, p := range topics[topic] {
			per[topic][p] = 0
			if subscribed[topic] {
				per[topic][p] = kerr.GroupSubscribedToTopic.Code
				continue
			}
			key := offsetKey(group, topic, p)
			if _, ok := c.md.Get(key); ok {
				ops = append(ops, meta.Delete(key))
				which = append(which, tp{topic, p})
			}
		}
	}
	c.applyChunks(ctx, ops, func(from, to int, err error) {
		c.log.Warn("group: deleting offsets failed", "group", group, "offsets", to-from, "err", err)
		for _, w := range which[from:to] {
			per[w.topic][w.p] = storageCode(err)
		}
	})
	return 0, per
}

// TopicDeleted drops every group's committed offsets of a deleted topic,
// so that a topic created again under the name starts with none.
func (c *Coordinator) TopicDeleted(ctx context.Context, topic string) {
	var ops []meta.Op
	for _, kv := range c.md.Scan(meta.Prefix(groupKind)) {
		if _, t, _, ok := parseOffsetKey(kv.Key); ok && t == topic {
			ops = append(ops, meta.Delete(kv.Key))
		}
	}
	c.applyChunks(ctx, ops, func(from, to int, err error) {
		c.log.Warn("group: dropping the offsets of a deleted topic failed", "topic", topic, "offsets", to-from, "err", err)
	})
	if len(ops) > 0 {
		c.log.Debug("group: offsets of deleted topic dropped", "topic", topic, "offsets", len(ops))
	}
}

// hasOffsets reports whether group has any committed offset.
func (c *Coordinator) hasOffsets(group string) bool {
	return len(c.offsetKeys(group)) > 0
}

// offsetKeys returns the keys of group's committed offsets.
func (c *Coordinator) offsetKeys(group string) []string {
	var keys []string
	for _, kv := range c.md.Scan(meta.Prefix(groupKind, group, offsetKind)) {
		keys = append(keys, kv.Key)
	}
	return keys
}

// deleteKeys deletes keys from meta, durably when it returns.
func (c *Coordinator) deleteKeys(ctx context.Context, keys []string) error {
	ops := make([]meta.Op, len(keys))
	for i, k := range keys {
		ops[i] = meta.Delete(k)
	}
	var first error
	c.applyChunks(ctx, ops, func(_, _ int, err error) {
		if first == nil {
			first = err
		}
	})
	return first
}
