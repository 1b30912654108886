package group

import (
	"bytes"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// state is a group's place in Kafka's classic rebalance protocol.
type state int8

const (
	// stateEmpty: no members (a group may be Empty with committed offsets).
	stateEmpty state = iota
	// statePreparing: waiting for every member to (re)join, until the
	// rebalance timeout kicks the ones that do not.
	statePreparing
	// stateCompleting: the generation is set and JoinGroup answered;
	// waiting for the leader's assignment in SyncGroup.
	stateCompleting
	// stateStable: assignments handed out; heartbeats keep members in.
	stateStable
	// stateDead: deleted or closed; never seen outside the group's lock.
	stateDead
)

// String returns the state's name as DescribeGroups and ListGroups say it.
func (s state) String() string {
	switch s {
	case stateEmpty:
		return "Empty"
	case statePreparing:
		return "PreparingRebalance"
	case stateCompleting:
		return "CompletingRebalance"
	case stateStable:
		return "Stable"
	default:
		return "Dead"
	}
}

// group is one consumer group's membership. Everything in it is guarded
// by mu; timers take mu and check that what they were set for still holds.
type group struct {
	c    *Coordinator
	name string

	mu           sync.Mutex
	dead         bool // deleted or closed: the next lookup makes a new group
	state        state
	generation   int32
	protocolType string
	protocol     string // chosen at the last completed join; "" when Empty
	leader       string
	members      map[string]*member
	pending      map[string]*time.Timer // member ids handed out by MEMBER_ID_REQUIRED, not yet joined
	static       map[string]string      // instance id → member id
	pendingSync  map[string]bool        // members answered JoinGroup, not yet SyncGroup

	rebalanceTimer *time.Timer
	rebalanceSeq   uint64 // which preparing phase rebalanceTimer belongs to
	syncTimer      *time.Timer

	// The initial rebalance delay of a group that was Empty (Kafka's
	// InitialDelayedJoin): while delaying, the join does not complete
	// when everyone is in; each new member extends it, up to the
	// rebalance timeout.
	delaying       bool
	newMemberAdded bool
	delayLeft      time.Duration
}

// member is one member of a group.
type member struct {
	id         string
	instanceID *string
	clientID   string
	clientHost string
	protocols  []Protocol
	session    time.Duration
	rebalance  time.Duration
	assignment []byte // the last assignment the leader gave it

	// isNew: joined but never answered; such a member whose JoinGroup is
	// abandoned is dropped rather than left to be kicked later.
	isNew  bool
	joinCh chan JoinResponse // set while it waits in JoinGroup
	syncCh chan SyncResponse // set while it waits in SyncGroup

	deadline time.Time   // session expiry, pushed on by every heartbeat
	timer    *time.Timer // fires at or before deadline
	fireAt   time.Time
}

func newGroup(c *Coordinator, name string) *group {
	return &group{
		c:       c,
		name:    name,
		members: make(map[string]*member),
		pending: make(map[string]*time.Timer),
		static:  make(map[string]string),
	}
}

// kill marks the group dead, answers everyone waiting with code, and
// stops every timer. The caller removes it from the coordinator's map.
func (g *group) kill(code int16) {
	g.dead = true
	g.state = stateDead
	for _, m := range g.members {
		g.answerJoin(m, JoinResponse{Err: code, Generation: -1, MemberID: m.id})
		g.answerSync(m, SyncResponse{Err: code})
		stopTimer(m.timer)
	}
	for _, t := range g.pending {
		t.Stop()
	}
	stopTimer(g.rebalanceTimer)
	stopTimer(g.syncTimer)
}

func stopTimer(t *time.Timer) {
	if t != nil {
		t.Stop()
	}
}

// awaitingJoin and awaitingSync: whether m has a request parked.
func (m *member) awaitingJoin() bool { return m.joinCh != nil }
func (m *member) awaitingSync() bool { return m.syncCh != nil }

// answerJoin answers m's parked JoinGroup, if any.
func (g *group) answerJoin(m *member, r JoinResponse) {
	if m.joinCh == nil {
		return
	}
	m.joinCh <- r // buffered, and the only send on it
	m.joinCh = nil
}

// answerSync answers m's parked SyncGroup, if any.
func (g *group) answerSync(m *member, r SyncResponse) {
	if m.syncCh == nil {
		return
	}
	m.syncCh <- r
	m.syncCh = nil
}

// heartbeat pushes m's session deadline on by its session timeout. A
// member with a request parked does not expire (Kafka's
// hasSatisfiedHeartbeat): its deadline counts from when it is answered.
func (g *group) heartbeat(m *member) {
	m.deadline = time.Now().Add(m.session)
	switch {
	case m.timer == nil:
		m.fireAt = m.deadline
		m.timer = time.AfterFunc(m.session, func() { g.sessionTimer(m) })
	case m.fireAt.After(m.deadline): // a shorter session since the last join
		m.fireAt = m.deadline
		m.timer.Reset(m.session)
	}
}

// sessionTimer runs when m's timer fires: it expires m if its deadline has
// passed and it has nothing parked, and otherwise sets the timer again.
func (g *group) sessionTimer(m *member) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.dead || g.members[m.id] != m {
		return
	}
	now := time.Now()
	if m.awaitingJoin() || m.awaitingSync() {
		m.deadline = now.Add(m.session)
	}
	if d := m.deadline.Sub(now); d > 0 {
		m.fireAt = m.deadline
		m.timer.Reset(d)
		return
	}
	g.c.log.Info("group: member session expired", "group", g.name, "member", m.id, "session", m.session)
	g.removeMember(m, kerr.UnknownMemberID.Code)
	g.afterRemoval("session timeout of " + m.id)
}

// addMember adds a new member, parked in JoinGroup on ch, and starts or
// joins a rebalance.
func (g *group) addMember(r *JoinRequest, id string, ch chan JoinResponse) *member {
	m := &member{
		id:         id,
		instanceID: r.InstanceID,
		isNew:      true,
		joinCh:     ch,
	}
	m.update(r)
	if len(g.members) == 0 {
		g.protocolType = r.ProtocolType
	}
	if g.leader == "" {
		g.leader = id
	}
	g.members[id] = m
	if r.InstanceID != nil {
		g.static[*r.InstanceID] = id
	}
	if g.delaying {
		g.newMemberAdded = true
	}
	g.heartbeat(m)
	g.maybeRebalance("member " + id + " joined")
	return m
}

// update takes a join's protocols, timeouts and client identity.
func (m *member) update(r *JoinRequest) {
	m.protocols = cloneProtocols(r.Protocols)
	m.session = r.SessionTimeout
	m.rebalance = r.RebalanceTimeout
	m.clientID = r.ClientID
	m.clientHost = r.ClientHost
}

// sameProtocols reports whether ps are m's protocols, names, order and
// metadata alike (Kafka's MemberMetadata.matches).
func (m *member) sameProtocols(ps []Protocol) bool {
	if len(ps) != len(m.protocols) {
		return false
	}
	for i, p := range ps {
		if p.Name != m.protocols[i].Name || !bytes.Equal(p.Metadata, m.protocols[i].Metadata) {
			return false
		}
	}
	return true
}

// metadata returns m's metadata for protocol.
func (m *member) metadata(protocol string) []byte {
	for _, p := range m.protocols {
		if p.Name == protocol {
			return p.Metadata
		}
	}
	return nil
}

// removeMember takes m out of the group, answering whatever it has parked
// with code, without starting a rebalance: afterRemoval does that.
func (g *group) removeMember(m *member, code int16) {
	g.answerJoin(m, JoinResponse{Err: code, Generation: -1, MemberID: m.id})
	g.answerSync(m, SyncResponse{Err: code})
	stopTimer(m.timer)
	delete(g.members, m.id)
	delete(g.pendingSync, m.id)
	if m.instanceID != nil && g.static[*m.instanceID] == m.id {
		delete(g.static, *m.instanceID)
	}
	if g.leader == m.id {
		g.leader = ""
		if ids := sortedKeys(g.members); len(ids) > 0 {
			g.leader = ids[0]
		}
	}
}

// afterRemoval moves the group on after members left: a stable or
// completing group rebalances, a preparing one may now be complete.
func (g *group) afterRemoval(reason string) {
	switch g.state {
	case stateStable, stateCompleting:
		g.prepareRebalance(reason)
	case statePreparing:
		g.maybeCompleteJoin()
	}
}

// maybeRebalance starts a rebalance unless one is already being prepared,
// in which case it checks whether that one is complete.
func (g *group) maybeRebalance(reason string) {
	if g.state == statePreparing {
		g.maybeCompleteJoin()
		return
	}
	g.prepareRebalance(reason)
}

// prepareRebalance enters PreparingRebalance: members waiting in SyncGroup
// are told REBALANCE_IN_PROGRESS (they rejoin), and the join completes when
// every member has rejoined or the rebalance timeout ends.
func (g *group) prepareRebalance(reason string) {
	if g.state == stateCompleting {
		for _, m := range g.members {
			m.assignment = nil
			g.answerSync(m, SyncResponse{Err: kerr.RebalanceInProgress.Code})
		}
	}
	stopTimer(g.syncTimer)
	g.syncTimer, g.pendingSync = nil, nil
	wasEmpty := g.state == stateEmpty
	g.state = statePreparing
	g.rebalanceSeq++
	seq := g.rebalanceSeq
	stopTimer(g.rebalanceTimer)
	g.c.log.Debug("group: preparing rebalance", "group", g.name, "generation", g.generation, "reason", reason)

	timeout := g.rebalanceTimeout()
	if delay := g.c.opts.InitialRebalanceDelay; wasEmpty && delay > 0 {
		g.delaying, g.newMemberAdded = true, false
		g.delayLeft = max(timeout-delay, 0)
		g.rebalanceTimer = time.AfterFunc(delay, func() { g.initialDelayTimer(seq) })
		return
	}
	g.rebalanceTimer = time.AfterFunc(timeout, func() { g.rebalanceTimerFired(seq) })
	g.maybeCompleteJoin()
}

// rebalanceTimeout is the largest rebalance timeout of the members.
func (g *group) rebalanceTimeout() time.Duration {
	var d time.Duration
	for _, m := range g.members {
		d = max(d, m.rebalance)
	}
	return d
}

// initialDelayTimer ends one step of the initial rebalance delay: another
// step if members joined during this one and the rebalance timeout allows,
// else the join completes.
func (g *group) initialDelayTimer(seq uint64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.dead || g.rebalanceSeq != seq || g.state != statePreparing || !g.delaying {
		return
	}
	if g.newMemberAdded && g.delayLeft > 0 {
		d := min(g.c.opts.InitialRebalanceDelay, g.delayLeft)
		g.delayLeft -= d
		g.newMemberAdded = false
		g.rebalanceTimer = time.AfterFunc(d, func() { g.initialDelayTimer(seq) })
		return
	}
	g.delaying = false
	g.completeJoin()
}

// rebalanceTimerFired ends the preparing phase at the rebalance timeout.
func (g *group) rebalanceTimerFired(seq uint64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.dead || g.rebalanceSeq != seq || g.state != statePreparing {
		return
	}
	g.completeJoin()
}

// maybeCompleteJoin completes the join if every member has rejoined and no
// member id handed out by MEMBER_ID_REQUIRED is still expected (Kafka's
// hasAllMembersJoined).
func (g *group) maybeCompleteJoin() {
	if g.state != statePreparing || g.delaying || len(g.pending) > 0 {
		return
	}
	for _, m := range g.members {
		if !m.awaitingJoin() {
			return
		}
	}
	g.completeJoin()
}

// completeJoin ends the preparing phase: dynamic members that did not
// rejoin are kicked (static ones stay until their session expires), the
// generation advances, a protocol is chosen, and every waiting JoinGroup
// is answered, the leader's with the member list.
func (g *group) completeJoin() {
	for _, id := range sortedKeys(g.members) {
		if m := g.members[id]; !m.awaitingJoin() && m.instanceID == nil {
			g.c.log.Info("group: member did not rejoin in time", "group", g.name, "member", id)
			g.removeMember(m, kerr.UnknownMemberID.Code)
		}
	}
	if len(g.members) > 0 && !g.electJoinedLeader() {
		// Only static members that have not rejoined are left: wait for
		// them another rebalance timeout, or for their sessions to end.
		g.rebalanceSeq++
		seq := g.rebalanceSeq
		stopTimer(g.rebalanceTimer)
		g.rebalanceTimer = time.AfterFunc(g.rebalanceTimeout(), func() { g.rebalanceTimerFired(seq) })
		return
	}
	stopTimer(g.rebalanceTimer)
	g.rebalanceTimer = nil
	g.delaying = false
	g.generation++
	if g.generation < 0 {
		g.generation = 1 // wrapped: Kafka's generations are positive
	}
	if len(g.members) == 0 {
		g.state, g.protocol, g.leader = stateEmpty, "", ""
		g.c.log.Info("group: empty", "group", g.name, "generation", g.generation)
		return
	}
	g.state = stateCompleting
	g.protocol = g.selectProtocol()
	g.pendingSync = make(map[string]bool, len(g.members))
	for id, m := range g.members {
		g.pendingSync[id] = true
		if m.awaitingJoin() {
			g.answerJoin(m, g.joinResponse(m, false))
			m.isNew = false
			g.heartbeat(m)
		}
	}
	g.c.log.Info("group: rebalanced", "group", g.name, "generation", g.generation,
		"protocol", g.protocol, "leader", g.leader, "members", len(g.members))
	gen := g.generation
	g.syncTimer = time.AfterFunc(g.rebalanceTimeout(), func() { g.syncTimerFired(gen) })
}

// electJoinedLeader keeps the leader if it rejoined and otherwise makes
// some member that did the leader; false if no member rejoined.
func (g *group) electJoinedLeader() bool {
	if m := g.members[g.leader]; m != nil && m.awaitingJoin() {
		return true
	}
	for _, id := range sortedKeys(g.members) {
		if g.members[id].awaitingJoin() {
			g.leader = id
			return true
		}
	}
	return false
}

// joinResponse is the answer to m's JoinGroup in the current generation:
// the leader gets every member's metadata for the chosen protocol.
func (g *group) joinResponse(m *member, skipAssignment bool) JoinResponse {
	r := JoinResponse{
		Generation:     g.generation,
		ProtocolType:   g.protocolType,
		Protocol:       g.protocol,
		Leader:         g.leader,
		MemberID:       m.id,
		SkipAssignment: skipAssignment,
	}
	if m.id == g.leader {
		r.Members = make([]Member, 0, len(g.members))
		for _, id := range sortedKeys(g.members) {
			o := g.members[id]
			r.Members = append(r.Members, Member{ID: id, InstanceID: o.instanceID, Metadata: o.metadata(g.protocol)})
		}
	}
	return r
}

// syncTimerFired ends the wait for SyncGroup of generation gen: members
// that were answered JoinGroup and never synced are kicked, and the group
// rebalances without them (Kafka's pending-sync expiry).
func (g *group) syncTimerFired(gen int32) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.dead || g.generation != gen || (g.state != stateCompleting && g.state != stateStable) || len(g.pendingSync) == 0 {
		return
	}
	for _, id := range sortedKeys(g.pendingSync) {
		if m := g.members[id]; m != nil {
			g.c.log.Info("group: member did not sync in time", "group", g.name, "member", id)
			g.removeMember(m, kerr.UnknownMemberID.Code)
		}
	}
	g.pendingSync = nil
	g.prepareRebalance("members did not sync")
}

// addPending records a member id handed out by MEMBER_ID_REQUIRED; unless
// it joins within its session timeout it is forgotten.
func (g *group) addPending(id string, session time.Duration) {
	var t *time.Timer
	t = time.AfterFunc(session, func() {
		g.mu.Lock()
		defer g.mu.Unlock()
		if g.dead || g.pending[id] != t {
			return
		}
		delete(g.pending, id)
		g.c.log.Debug("group: pending member never joined", "group", g.name, "member", id)
		if g.state == statePreparing {
			g.maybeCompleteJoin()
		}
	})
	g.pending[id] = t
}

// dropPending forgets a pending member id; false if it was not pending.
func (g *group) dropPending(id string) bool {
	t, ok := g.pending[id]
	if ok {
		t.Stop()
		delete(g.pending, id)
	}
	return ok
}

func cloneProtocols(ps []Protocol) []Protocol {
	out := make([]Protocol, len(ps))
	for i, p := range ps {
		out[i] = Protocol{Name: p.Name, Metadata: bytes.Clone(p.Metadata)}
	}
	return out
}
