package group

import (
	"bytes"
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
)

// Sync handles SyncGroup. A member of a generation still being synced
// waits for the leader's assignment; the leader's own Sync hands every
// member its assignment and makes the group Stable. If ctx ends first the
// wait is dropped and Sync answers REBALANCE_IN_PROGRESS.
func (c *Coordinator) Sync(ctx context.Context, r SyncRequest) SyncResponse {
	if r.Group == "" {
		return SyncResponse{Err: kerr.InvalidGroupID.Code}
	}
	g, code := c.lookup(r.Group, false)
	if code != 0 {
		return SyncResponse{Err: code}
	}
	if g == nil {
		return SyncResponse{Err: kerr.UnknownMemberID.Code}
	}
	ch := make(chan SyncResponse, 1)
	resp, m := g.sync(&r, ch)
	g.mu.Unlock()
	if m == nil {
		return resp
	}
	select {
	case resp := <-ch:
		return resp
	case <-ctx.Done():
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if m.syncCh != ch {
		return <-ch // answered meanwhile
	}
	m.syncCh = nil
	if !g.dead && g.members[m.id] == m {
		g.heartbeat(m)
	}
	return SyncResponse{Err: kerr.RebalanceInProgress.Code}
}

// sync runs a SyncGroup under g.mu: the answer, or the member parked on ch.
func (g *group) sync(r *SyncRequest, ch chan SyncResponse) (SyncResponse, *member) {
	m, code := g.check(r.MemberID, r.InstanceID, r.Generation)
	if code != 0 {
		return SyncResponse{Err: code}, nil
	}
	if (r.ProtocolType != nil && *r.ProtocolType != g.protocolType) || (r.Protocol != nil && *r.Protocol != g.protocol) {
		return SyncResponse{Err: kerr.InconsistentGroupProtocol.Code}, nil
	}
	switch g.state {
	case statePreparing:
		return SyncResponse{Err: kerr.RebalanceInProgress.Code}, nil
	case stateStable:
		delete(g.pendingSync, m.id)
		g.heartbeat(m)
		return g.syncResponse(m), nil
	}
	// Completing.
	delete(g.pendingSync, m.id)
	g.answerSync(m, SyncResponse{Err: kerr.RebalanceInProgress.Code}) // a retry replaces it
	m.syncCh = ch
	if m.id == g.leader {
		g.assign(r.Assignments)
	}
	return SyncResponse{}, m
}

// assign takes the leader's assignments, makes the group Stable and
// answers every member waiting in SyncGroup. A member the leader left out
// gets an empty assignment; one that is not a member is ignored.
func (g *group) assign(as []Assignment) {
	for _, m := range g.members {
		m.assignment = nil
	}
	for _, a := range as {
		if m := g.members[a.MemberID]; m != nil {
			m.assignment = bytes.Clone(a.Assignment)
		}
	}
	g.state = stateStable
	for _, m := range g.members {
		if m.awaitingSync() {
			g.answerSync(m, g.syncResponse(m))
			g.heartbeat(m)
		}
	}
	g.c.log.Debug("group: stable", "group", g.name, "generation", g.generation)
}

// syncResponse is m's answer to SyncGroup in a stable group.
func (g *group) syncResponse(m *member) SyncResponse {
	pt, p := g.protocolType, g.protocol
	a := m.assignment
	if len(a) == 0 {
		a = []byte{}
		if pt == consumerProtocolType {
			a = bytes.Clone(emptyConsumerAssignment)
		}
	}
	return SyncResponse{ProtocolType: &pt, Protocol: &p, Assignment: a}
}

// check validates a member's request against the group, in Kafka's order:
// a fenced static instance, an unknown member, a stale generation, a group
// with no generation to be in.
func (g *group) check(memberID string, instanceID *string, generation int32) (*member, int16) {
	if instanceID != nil {
		if cur, ok := g.static[*instanceID]; ok && cur != memberID {
			return nil, kerr.FencedInstanceID.Code
		}
	}
	m := g.members[memberID]
	if m == nil {
		return nil, kerr.UnknownMemberID.Code
	}
	if generation != g.generation {
		return nil, kerr.IllegalGeneration.Code
	}
	if g.state == stateEmpty || g.state == stateDead {
		return nil, kerr.UnknownMemberID.Code
	}
	return m, 0
}

// Heartbeat keeps a member in its group. While a rebalance is being
// prepared it answers REBALANCE_IN_PROGRESS, so that the member rejoins.
func (c *Coordinator) Heartbeat(group, memberID string, instanceID *string, generation int32) int16 {
	if group == "" {
		return kerr.InvalidGroupID.Code
	}
	g, code := c.lookup(group, false)
	if code != 0 {
		return code
	}
	if g == nil {
		return kerr.UnknownMemberID.Code
	}
	defer g.mu.Unlock()
	m, code := g.check(memberID, instanceID, generation)
	if code != 0 {
		return code
	}
	g.heartbeat(m)
	if g.state == statePreparing {
		return kerr.RebalanceInProgress.Code
	}
	return 0
}

// Leave removes members from a group (LeaveGroup; v3+ in batches, by
// member id or instance id) and rebalances the rest. The first result is
// the request's error; perMember has one code per member asked for (an
// unknown member is UNKNOWN_MEMBER_ID there, not in the first result, as
// in Kafka's v3+ response). LeaveGroup v0-2 has a single error code:
// Kafka sends the request's error if any, else the member's.
func (c *Coordinator) Leave(group string, members []LeaveMember) (int16, []int16) {
	per := make([]int16, len(members))
	if group == "" {
		return kerr.InvalidGroupID.Code, per
	}
	g, code := c.lookup(group, false)
	if code != 0 {
		return code, per
	}
	if g == nil {
		for i := range per {
			per[i] = kerr.UnknownMemberID.Code
		}
		return 0, per
	}
	defer g.mu.Unlock()
	removed := 0
	for i, lm := range members {
		id := lm.MemberID
		if lm.InstanceID != nil {
			cur, ok := g.static[*lm.InstanceID]
			switch {
			case !ok:
				per[i] = kerr.UnknownMemberID.Code
				continue
			case id != "" && id != cur:
				per[i] = kerr.FencedInstanceID.Code
				continue
			}
			id = cur
		}
		if g.dropPending(id) {
			continue
		}
		m := g.members[id]
		if m == nil {
			per[i] = kerr.UnknownMemberID.Code
			continue
		}
		g.c.log.Info("group: member left", "group", g.name, "member", id)
		g.removeMember(m, kerr.UnknownMemberID.Code)
		removed++
	}
	if removed > 0 {
		g.afterRemoval("members left")
	} else if g.state == statePreparing {
		g.maybeCompleteJoin() // a pending member may have been all it waited for
	}
	return 0, per
}
