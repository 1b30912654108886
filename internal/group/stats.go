package group

import (
	"cmp"
	"slices"

	"github.com/loftmq/loft/internal/meta"
)

// Committed is one committed offset, for metrics (lag is the partition's
// end offset minus Offset).
type Committed struct {
	Group, Topic string
	Partition    int32
	Offset       int64
}

// Committed returns every committed offset of every group, sorted by
// group, topic and partition. Offsets that do not decode are left out
// (Fetch logs them).
func (c *Coordinator) Committed() []Committed {
	if c.isClosed() {
		return nil
	}
	var out []Committed
	for _, kv := range c.md.Scan(meta.Prefix(groupKind)) {
		group, topic, p, ok := parseOffsetKey(kv.Key)
		if !ok {
			continue
		}
		v, err := decodeOffset(kv.Value)
		if err != nil {
			continue
		}
		out = append(out, Committed{Group: group, Topic: topic, Partition: p, Offset: v.Offset})
	}
	slices.SortFunc(out, func(a, b Committed) int {
		return cmp.Or(cmp.Compare(a.Group, b.Group), cmp.Compare(a.Topic, b.Topic), cmp.Compare(a.Partition, b.Partition))
	})
	return out
}
