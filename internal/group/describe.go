package group

import (
	"bytes"
	"context"
	"sort"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/loftmq/loft/internal/meta"
)

// Describe tells a group's state and members (DescribeGroups). As in
// Kafka, the protocol and the members' metadata and assignments are given
// only while the group is Stable. A group known only by its committed
// offsets is Empty. A group that does not exist is described, with no
// error, as "Dead" with no members, as Kafka answers DescribeGroups up to
// v5 (from v6, Kafka 4 adds GROUP_ID_NOT_FOUND to that: the caller's
// choice). The code is COORDINATOR_NOT_AVAILABLE after Close.
func (c *Coordinator) Describe(group string) (GroupDescription, int16) {
	d := GroupDescription{Group: group, State: stateDead.String()}
	g, code := c.lookup(group, false)
	if code != 0 {
		return d, code
	}
	if g == nil {
		if !c.hasOffsets(group) {
			return d, 0
		}
		d.State = stateEmpty.String()
		return d, 0
	}
	defer g.mu.Unlock()
	d.State, d.ProtocolType = g.state.String(), g.protocolType
	stable := g.state == stateStable
	if stable {
		d.Protocol = g.protocol
	}
	for _, id := range sortedKeys(g.members) {
		m := g.members[id]
		md := MemberDescription{ID: id, InstanceID: m.instanceID, ClientID: m.clientID, ClientHost: m.clientHost}
		if stable {
			md.Metadata = bytes.Clone(m.metadata(g.protocol))
			md.Assignment = bytes.Clone(m.assignment)
		}
		d.Members = append(d.Members, md)
	}
	return d, 0
}

// List returns the groups (ListGroups), sorted by name: every group with
// members or committed offsets (and empty ones this coordinator has seen
// since it started). states, if not empty, keeps only groups in one of
// them, compared without regard to case as Kafka does.
func (c *Coordinator) List(states []string) []GroupListing {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	groups := make([]*group, 0, len(c.groups))
	for _, g := range c.groups {
		groups = append(groups, g)
	}
	c.mu.Unlock()

	seen := make(map[string]bool)
	var out []GroupListing
	keep := func(l GroupListing) {
		if len(states) == 0 || containsFold(states, l.State) {
			out = append(out, l)
		}
	}
	for _, g := range groups {
		g.mu.Lock()
		if !g.dead {
			seen[g.name] = true
			keep(GroupListing{Group: g.name, ProtocolType: g.protocolType, State: g.state.String()})
		}
		g.mu.Unlock()
	}
	for _, kv := range c.md.Scan(meta.Prefix(groupKind)) {
		name, _, _, ok := parseOffsetKey(kv.Key)
		if ok && !seen[name] {
			seen[name] = true
			keep(GroupListing{Group: name, State: stateEmpty.String()})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Group < out[j].Group })
	return out
}

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

// Delete deletes a group (DeleteGroups): only an Empty one (NON_EMPTY_GROUP
// otherwise), with its committed offsets, durably when it returns. A group
// with neither members nor offsets is GROUP_ID_NOT_FOUND.
func (c *Coordinator) Delete(ctx context.Context, group string) int16 {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return kerr.CoordinatorNotAvailable.Code
	}
	g := c.groups[group]
	if g != nil {
		g.mu.Lock()
		if g.state != stateEmpty {
			g.mu.Unlock()
			c.mu.Unlock()
			return kerr.NonEmptyGroup.Code
		}
		g.kill(kerr.CoordinatorNotAvailable.Code) // answers nobody: Empty has no members
		g.mu.Unlock()
		delete(c.groups, group)
	}
	c.mu.Unlock()

	keys := c.offsetKeys(group)
	if g == nil && len(keys) == 0 {
		return kerr.GroupIDNotFound.Code
	}
	if err := c.deleteKeys(ctx, keys); err != nil {
		c.log.Warn("group: deleting the offsets of a group failed", "group", group, "err", err)
		return storageCode(err)
	}
	c.log.Info("group: deleted", "group", group, "offsets", len(keys))
	return 0
}
