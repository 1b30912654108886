package streamapi

import (
	"cmp"
	"fmt"
	"net/http"
	"slices"

	"github.com/loftmq/loft/internal/broker"
	"github.com/loftmq/loft/internal/group"
	"github.com/loftmq/loft/internal/httpx"
)

// Where reset-offsets moves a group's offsets.
const (
	toEarliest  = "earliest"
	toLatest    = "latest"
	toTimestamp = "timestamp"
	toOffset    = "offset"
)

// resetBody is the body of POST /api/v1/groups/{group}/reset-offsets.
type resetBody struct {
	To        string       `json:"to"`
	Timestamp *int64       `json:"timestamp"`
	Offset    *int64       `json:"offset"`
	Topics    []resetTopic `json:"topics"`
	DryRun    bool         `json:"dry_run"`
}

// resetTopic names a topic to reset: the partitions listed, or all.
type resetTopic struct {
	Topic      string  `json:"topic"`
	Partitions []int32 `json:"partitions"`
}

// resetJSON is one partition's new offset, and the one it replaces
// (null when there was none).
type resetJSON struct {
	Topic          string `json:"topic"`
	Partition      int32  `json:"partition"`
	Offset         int64  `json:"offset"`
	PreviousOffset *int64 `json:"previous_offset"`
}

type resetAnswer struct {
	Group   string      `json:"group"`
	DryRun  bool        `json:"dry_run"`
	Offsets []resetJSON `json:"offsets"`
}

// check refuses a body that does not say exactly where to go.
func (b resetBody) check() error {
	switch b.To {
	case toEarliest, toLatest:
		if b.Timestamp != nil || b.Offset != nil {
			return fmt.Errorf("to: %s takes neither timestamp nor offset", b.To)
		}
	case toTimestamp:
		if b.Timestamp == nil || b.Offset != nil {
			return fmt.Errorf("to: timestamp needs timestamp (milliseconds since the epoch), and no offset")
		}
		if *b.Timestamp < 0 {
			return fmt.Errorf("timestamp: %d, want milliseconds since the epoch", *b.Timestamp)
		}
	case toOffset:
		if b.Offset == nil || b.Timestamp != nil {
			return fmt.Errorf("to: offset needs offset, and no timestamp")
		}
		if *b.Offset < 0 {
			return fmt.Errorf("offset: %d, want at least 0", *b.Offset)
		}
	case "":
		return fmt.Errorf("to: required: %s, %s, %s or %s", toEarliest, toLatest, toTimestamp, toOffset)
	default:
		return fmt.Errorf("to: %q, want %s, %s, %s or %s", b.To, toEarliest, toLatest, toTimestamp, toOffset)
	}
	for i, t := range b.Topics {
		if t.Topic == "" {
			return fmt.Errorf("topics[%d].topic: required", i)
		}
	}
	return nil
}

// resetOffsets answers POST /api/v1/groups/{group}/reset-offsets: it
// commits new offsets for the partitions named (by default every one the
// group has committed for), as kafka-consumer-groups --reset-offsets
// does, and only while the group has no members: a consumer running would
// commit over them (409, as Kafka refuses). An offset past either end is
// moved to it.
func (a *API) resetOffsets(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("group")
	var b resetBody
	if !readBody(w, r, &b) {
		return
	}
	if err := b.check(); err != nil {
		httpx.Error(w, http.StatusBadRequest, "bad_request", err.Error())
		return
	}
	d, code := a.groups.Describe(name)
	if code != 0 {
		writeGroupError(w, name, code)
		return
	}
	if len(d.Members) > 0 {
		httpx.Error(w, http.StatusConflict, "conflict", fmt.Sprintf("group '%s' is %s with %d members: stop its consumers first", name, d.State, len(d.Members)))
		return
	}
	previous := map[string]map[int32]int64{}
	for _, c := range a.groups.Fetch(name, nil) {
		if c.Err == 0 && c.Offset >= 0 {
			if previous[c.Topic] == nil {
				previous[c.Topic] = map[int32]int64{}
			}
			previous[c.Topic][c.Partition] = c.Offset
		}
	}
	topics := b.Topics
	if topics == nil {
		if len(previous) == 0 {
			httpx.Error(w, http.StatusNotFound, "not_found", fmt.Sprintf("group '%s' has no committed offsets: name the topics to reset", name))
			return
		}
		for _, t := range sortedKeys(previous) {
			topics = append(topics, resetTopic{Topic: t})
		}
	}
	ans := resetAnswer{Group: name, DryRun: b.DryRun, Offsets: []resetJSON{}}
	for _, rt := range topics {
		parts, ok := a.resetPartitions(w, rt)
		if !ok {
			return
		}
		for _, p := range parts {
			off, err := b.target(p)
			if err != nil {
				writeError(w, err)
				return
			}
			rj := resetJSON{Topic: p.Topic(), Partition: p.Index(), Offset: off}
			if prev, ok := previous[p.Topic()][p.Index()]; ok {
				rj.PreviousOffset = &prev
			}
			ans.Offsets = append(ans.Offsets, rj)
		}
	}
	ans.Offsets = dedupe(ans.Offsets)
	if !b.DryRun && !a.commit(w, r, name, ans.Offsets) {
		return
	}
	if !b.DryRun {
		a.logger.Info("streamapi: group offsets reset", "group", name, "to", b.To, "partitions", len(ans.Offsets))
	}
	httpx.JSON(w, http.StatusOK, ans)
}

// resetPartitions resolves one entry of topics, or answers 404.
func (a *API) resetPartitions(w http.ResponseWriter, rt resetTopic) ([]*broker.Partition, bool) {
	t, ok := a.broker.Topic(rt.Topic)
	if !ok {
		httpx.Error(w, http.StatusNotFound, "not_found", fmt.Sprintf("no topic '%s'", rt.Topic))
		return nil, false
	}
	if rt.Partitions == nil {
		return t.Partitions(), true
	}
	var out []*broker.Partition
	for _, i := range rt.Partitions {
		p, ok := t.Partition(i)
		if !ok {
			httpx.Error(w, http.StatusNotFound, "not_found", fmt.Sprintf("topic '%s' has no partition %d (it has %d)", t.Name(), i, t.NumPartitions()))
			return nil, false
		}
		out = append(out, p)
	}
	return out, true
}

// target is where the body moves p's offset.
func (b resetBody) target(p *broker.Partition) (int64, error) {
	switch b.To {
	case toEarliest:
		return p.LogStartOffset(), nil
	case toLatest:
		return p.HighWatermark(), nil
	case toTimestamp:
		off, _, found, err := p.ListOffset(*b.Timestamp)
		if err != nil {
			return 0, err
		}
		if !found {
			return p.HighWatermark(), nil // nothing that late: the end
		}
		return off, nil
	}
	return min(max(*b.Offset, p.LogStartOffset()), p.HighWatermark()), nil
}

// dedupe sorts offsets by topic and partition, dropping partitions named
// twice.
func dedupe(offs []resetJSON) []resetJSON {
	slices.SortStableFunc(offs, func(x, y resetJSON) int {
		return cmp.Or(cmp.Compare(x.Topic, y.Topic), cmp.Compare(x.Partition, y.Partition))
	})
	return slices.CompactFunc(offs, func(x, y resetJSON) bool { return x.Topic == y.Topic && x.Partition == y.Partition })
}

// commit writes the offsets as an admin's commit (no member, generation
// -1), which the coordinator refuses while the group has members: a
// consumer that joined since the check gets the group a 409 still.
func (a *API) commit(w http.ResponseWriter, r *http.Request, name string, offs []resetJSON) bool {
	commits := make([]group.OffsetCommit, len(offs))
	for i, o := range offs {
		commits[i] = group.OffsetCommit{Topic: o.Topic, Partition: o.Partition, Offset: o.Offset, LeaderEpoch: -1}
	}
	code, per := a.groups.Commit(r.Context(), name, "", nil, -1, commits)
	if code == 0 {
		for _, c := range per {
			if c != 0 {
				code = c
				break
			}
		}
	}
	if code != 0 {
		writeGroupError(w, name, code)
		return false
	}
	return true
}
