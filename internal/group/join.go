package group

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
)

// Join handles JoinGroup. It blocks until the rebalance it joins completes
// and answers with the new generation (the leader also gets the members),
// or with an error at once. If ctx ends first the member's join is dropped
// (a member that never completed a join leaves the group; others are
// kicked at the rebalance timeout unless they join again) and Join answers
// REBALANCE_IN_PROGRESS, which makes any client join again.
func (c *Coordinator) Join(ctx context.Context, r JoinRequest) JoinResponse {
	fail := func(code int16) JoinResponse {
		return JoinResponse{Err: code, Generation: -1, MemberID: r.MemberID}
	}
	if r.Group == "" {
		return fail(kerr.InvalidGroupID.Code)
	}
	if r.SessionTimeout < c.opts.MinSessionTimeout || r.SessionTimeout > c.opts.MaxSessionTimeout {
		return fail(kerr.InvalidSessionTimeout.Code)
	}
	if r.RebalanceTimeout <= 0 {
		r.RebalanceTimeout = r.SessionTimeout // JoinGroup v0 has none
	}
	g, code := c.lookup(r.Group, false)
	if code != 0 {
		return fail(code)
	}
	if g == nil {
		// Check what can be checked before creating the group, so that a
		// bad first join leaves nothing behind.
		if r.MemberID != "" {
			return fail(kerr.UnknownMemberID.Code)
		}
		if r.ProtocolType == "" || len(r.Protocols) == 0 {
			return fail(kerr.InconsistentGroupProtocol.Code)
		}
		if g, code = c.lookup(r.Group, true); code != 0 {
			return fail(code)
		}
	}
	ch := make(chan JoinResponse, 1)
	resp, m := g.join(&r, ch)
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
	if m.joinCh != ch {
		return <-ch // answered meanwhile
	}
	g.abandonJoin(m)
	return fail(kerr.RebalanceInProgress.Code)
}

// join runs a JoinGroup under g.mu. It returns the answer, or the member
// now parked on ch.
func (g *group) join(r *JoinRequest, ch chan JoinResponse) (JoinResponse, *member) {
	fail := func(code int16) (JoinResponse, *member) {
		return JoinResponse{Err: code, Generation: -1, MemberID: r.MemberID}, nil
	}
	if !g.supportsProtocols(r.ProtocolType, r.Protocols) {
		return fail(kerr.InconsistentGroupProtocol.Code)
	}
	if r.MemberID == "" {
		if r.InstanceID != nil {
			if old, ok := g.static[*r.InstanceID]; ok {
				return g.replaceStatic(r, old, ch)
			}
		}
		id := newMemberID(r.ClientID, r.InstanceID)
		if r.Version >= 4 && r.InstanceID == nil {
			// A member that never comes back must cost no rebalance:
			// it only enters the group when it joins with this id.
			g.addPending(id, r.SessionTimeout)
			return JoinResponse{Err: kerr.MemberIDRequired.Code, Generation: -1, MemberID: id}, nil
		}
		return JoinResponse{}, g.addMember(r, id, ch)
	}

	if r.InstanceID != nil {
		if cur, ok := g.static[*r.InstanceID]; ok && cur != r.MemberID {
			return fail(kerr.FencedInstanceID.Code)
		}
	}
	if g.dropPending(r.MemberID) {
		return JoinResponse{}, g.addMember(r, r.MemberID, ch)
	}
	m := g.members[r.MemberID]
	if m == nil || (r.InstanceID != nil && g.static[*r.InstanceID] != m.id) {
		return fail(kerr.UnknownMemberID.Code)
	}
	switch g.state {
	case statePreparing:
		g.rejoin(m, r, ch)
		g.maybeCompleteJoin()
		return JoinResponse{}, m
	case stateCompleting:
		if m.sameProtocols(r.Protocols) {
			// A retried join: answer with the generation being synced.
			g.heartbeat(m)
			return g.joinResponse(m, false), nil
		}
	case stateStable:
		if m.id != g.leader && m.sameProtocols(r.Protocols) {
			// Nothing changed for this follower: no rebalance. A leader
			// rejoining asks for one (its view of the topics changed).
			g.heartbeat(m)
			return g.joinResponse(m, false), nil
		}
	default:
		return fail(kerr.UnknownMemberID.Code)
	}
	g.rejoin(m, r, ch)
	g.prepareRebalance("member " + m.id + " rejoined with new metadata")
	return JoinResponse{}, m
}

// rejoin parks a known member's JoinGroup on ch with its new protocols. A
// join it already had parked (a retry on a new connection) is answered
// REBALANCE_IN_PROGRESS: nobody waits for it any more.
func (g *group) rejoin(m *member, r *JoinRequest, ch chan JoinResponse) {
	g.answerJoin(m, JoinResponse{Err: kerr.RebalanceInProgress.Code, Generation: -1, MemberID: m.id})
	m.update(r)
	m.joinCh = ch
}

// replaceStatic handles a static member coming back without its member id
// (a restart): the instance keeps its place and assignment under a new id,
// and the old id is fenced. In a stable group whose protocol would not
// change, it is answered at once with the current generation and no
// rebalance (KIP-345); if it leads, SkipAssignment tells it not to
// assign again (KIP-814). Otherwise the group rebalances.
func (g *group) replaceStatic(r *JoinRequest, oldID string, ch chan JoinResponse) (JoinResponse, *member) {
	m := g.members[oldID]
	if m == nil { // cannot happen: static maps only members
		delete(g.static, *r.InstanceID)
		return JoinResponse{}, g.addMember(r, newMemberID(r.ClientID, r.InstanceID), ch)
	}
	newID := newMemberID(r.ClientID, r.InstanceID)
	fenced := kerr.FencedInstanceID.Code
	g.answerJoin(m, JoinResponse{Err: fenced, Generation: -1, MemberID: oldID})
	g.answerSync(m, SyncResponse{Err: fenced})
	delete(g.members, oldID)
	m.id = newID
	g.members[newID] = m
	g.static[*r.InstanceID] = newID
	if g.leader == oldID {
		g.leader = newID
	}
	if g.pendingSync[oldID] {
		delete(g.pendingSync, oldID)
		g.pendingSync[newID] = true
	}
	m.update(r)
	g.heartbeat(m)
	g.c.log.Info("group: static member replaced", "group", g.name, "instance", *r.InstanceID, "old", oldID, "member", newID)

	switch g.state {
	case stateStable:
		if g.selectProtocol() == g.protocol {
			return g.joinResponse(m, m.id == g.leader), nil
		}
		m.joinCh = ch
		g.prepareRebalance("static member " + newID + " changed the protocol")
	case stateCompleting:
		// The leader may be assigning to the old id: assign again.
		m.joinCh = ch
		g.prepareRebalance("static member " + newID + " rejoined during sync")
	default: // preparing
		m.joinCh = ch
		g.maybeCompleteJoin()
	}
	return JoinResponse{}, m
}

// abandonJoin drops m's parked JoinGroup after its caller stopped waiting.
// A member that never completed a join is removed, as if it never came; a
// known one stays and is kicked when the rebalance times out, unless it
// joins again before.
func (g *group) abandonJoin(m *member) {
	m.joinCh = nil
	if g.dead || g.members[m.id] != m {
		return
	}
	if m.isNew && m.instanceID == nil {
		g.c.log.Debug("group: new member gave up joining", "group", g.name, "member", m.id)
		g.removeMember(m, kerr.UnknownMemberID.Code)
		g.afterRemoval("member " + m.id + " gave up joining")
		return
	}
	g.heartbeat(m)
}
