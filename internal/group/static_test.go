package group

import (
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

func ptr(s string) *string { return &s }

// stableGroup expects MEMBER_ID_REQUIRED; static members join at once,
// so their groups are built here.
func TestStaticMemberJoinsWithoutMemberIDRequired(t *testing.T) {
	e := newEnv(t, testOptions())
	r := joinReq("g", "", "cli")
	r.InstanceID = ptr("inst")
	j := e.c.Join(testCtx(t), r)
	wantCode(t, "static join v5", j.Err, 0)
	if len(j.MemberID) < len("inst-") || j.MemberID[:5] != "inst-" {
		t.Fatalf("static member id %q, want inst-<uuid>", j.MemberID)
	}
}

// A static member restarting (joining with its instance id and no member
// id) takes its place back under a new id, with no rebalance: the others'
// heartbeats see nothing, and it syncs into its old assignment. The old id
// is fenced.
func TestStaticMemberRestartWithoutRebalance(t *testing.T) {
	e := newEnv(t, testOptions())
	c := e.c
	ids, gen := buildStatic(t, c, 3)
	leader := leaderOf(t, c)
	follower := ids[0]
	fi := 0
	if follower == leader {
		follower, fi = ids[1], 1
	}
	inst := ptr("i" + string(rune('0'+fi)))

	r := joinReq("g", "", "restarted")
	r.InstanceID = inst
	j := c.Join(testCtx(t), r)
	wantCode(t, "static rejoin", j.Err, 0)
	if j.Generation != gen || j.MemberID == follower || j.Members != nil || j.SkipAssignment || j.Leader != leader {
		t.Fatalf("static rejoin: %+v", j)
	}
	if s, _ := stateOf(c, "g"); s != "Stable" {
		t.Fatalf("state %s after a static restart, want Stable", s)
	}
	for _, id := range ids {
		if id != follower {
			wantCode(t, "others' heartbeat", c.Heartbeat("g", id, nil, gen), 0)
		}
	}
	s := c.Sync(testCtx(t), SyncRequest{Group: "g", MemberID: j.MemberID, InstanceID: inst, Generation: gen})
	wantCode(t, "sync", s.Err, 0)
	if want := "a-" + string(rune('0'+fi)); string(s.Assignment) != want {
		t.Fatalf("assignment %q after restart, want the old %q", s.Assignment, want)
	}
	// The old incarnation is fenced everywhere.
	fenced := kerr.FencedInstanceID.Code
	wantCode(t, "old heartbeat", c.Heartbeat("g", follower, inst, gen), fenced)
	wantCode(t, "old sync", c.Sync(testCtx(t), SyncRequest{Group: "g", MemberID: follower, InstanceID: inst, Generation: gen}).Err, fenced)
	old := joinReq("g", follower, "old")
	old.InstanceID = inst
	wantCode(t, "old join", c.Join(testCtx(t), old).Err, fenced)
	if err, _ := c.Commit(testCtx(t), "g", follower, inst, gen, []OffsetCommit{{Topic: "t"}}); err != fenced {
		t.Fatalf("old commit: %s", code(err))
	}
	if err, per := c.Leave("g", []LeaveMember{{MemberID: follower, InstanceID: inst}}); err != 0 || per[0] != fenced {
		t.Fatalf("old leave: %s %v", code(err), per)
	}
	wantCode(t, "new heartbeat", c.Heartbeat("g", j.MemberID, inst, gen), 0)
	// Without its instance id the old id is merely unknown.
	wantCode(t, "old heartbeat, no instance", c.Heartbeat("g", follower, nil, gen), kerr.UnknownMemberID.Code)
}

// The leader restarting statically keeps the lead with no rebalance, and
// is told to skip assigning (KIP-814) while getting the member list.
func TestStaticLeaderRestart(t *testing.T) {
	e := newEnv(t, testOptions())
	c := e.c
	ids, gen := buildStatic(t, c, 2)
	leader := leaderOf(t, c)
	li := slices.Index(ids, leader)
	r := joinReq("g", "", "restarted")
	r.InstanceID = ptr("i" + string(rune('0'+li)))
	j := c.Join(testCtx(t), r)
	wantCode(t, "leader rejoin", j.Err, 0)
	if j.Generation != gen || j.Leader != j.MemberID || !j.SkipAssignment || len(j.Members) != 2 {
		t.Fatalf("leader rejoin: %+v", j)
	}
	if s, _ := stateOf(c, "g"); s != "Stable" {
		t.Fatalf("state %s, want Stable", s)
	}
}

// A static member restarting with protocols that change the group's
// choice rebalances the group.
func TestStaticRestartChangingProtocolRebalances(t *testing.T) {
	e := newEnv(t, testOptions())
	c := e.c
	_, gen := buildStatic(t, c, 1)
	r := joinReq("g", "", "restarted", "roundrobin", "range")
	r.InstanceID = ptr("i0")
	r.Version = 3
	j := c.Join(testCtx(t), r)
	wantCode(t, "rejoin", j.Err, 0)
	if j.Generation != gen+1 || j.Protocol != "roundrobin" {
		t.Fatalf("rejoin: %+v", j)
	}
}

// A static member that does not rejoin during a rebalance is not kicked
// at the rebalance timeout, only when its session ends; the leaving API
// takes it out by instance id.
func TestStaticMemberLeaveByInstance(t *testing.T) {
	e := newEnv(t, testOptions())
	c := e.c
	ids, gen := buildStatic(t, c, 2)
	err, per := c.Leave("g", []LeaveMember{{InstanceID: ptr("i1")}, {InstanceID: ptr("nope")}})
	if err != 0 || per[0] != 0 || per[1] != kerr.UnknownMemberID.Code {
		t.Fatalf("leave: %s %v", code(err), per)
	}
	wantCode(t, "heartbeat", c.Heartbeat("g", ids[0], ptr("i0"), gen), kerr.RebalanceInProgress.Code)
	r := joinReq("g", ids[0], "c")
	r.InstanceID = ptr("i0")
	j := c.Join(testCtx(t), r)
	wantCode(t, "rejoin", j.Err, 0)
	if len(j.Members) != 1 || j.Members[0].InstanceID == nil || *j.Members[0].InstanceID != "i0" {
		t.Fatalf("rejoin: %+v", j)
	}
}

// buildStatic makes a stable group of n static members "i0".."i<n-1>".
func buildStatic(t *testing.T, c *Coordinator, n int) ([]string, int32) {
	t.Helper()
	reqs := make([]JoinRequest, n)
	chans := make([]<-chan JoinResponse, n)
	// Static members join at once (no MEMBER_ID_REQUIRED): the first
	// completes generation 1 alone, the others wait in the rebalance they
	// start; the ones answered rejoin, and the last generation has all.
	for i := range n {
		reqs[i] = joinReq("g", "", "c")
		reqs[i].InstanceID = ptr("i" + string(rune('0'+i)))
		chans[i] = joinAsync(t, c, reqs[i])
		waitFor(t, "the member to join", func() bool { _, m := stateOf(c, "g"); return m == i+1 })
	}
	// Everyone who was answered rejoins with its id; those still waiting
	// are in the rebalance already.
	ids := make([]string, n)
	resps := make([]JoinResponse, n)
	for i := range n - 1 {
		resps[i] = recv(t, "join", chans[i])
		wantCode(t, "join", resps[i].Err, 0)
		ids[i] = resps[i].MemberID
		reqs[i].MemberID = ids[i]
		chans[i] = joinAsync(t, c, reqs[i])
	}
	for i := range n {
		resps[i] = recv(t, "join", chans[i])
		wantCode(t, "join", resps[i].Err, 0)
		ids[i] = resps[i].MemberID
	}
	gen := resps[n-1].Generation
	for _, r := range resps {
		if r.Generation != gen {
			t.Fatalf("static members in different generations: %+v", resps)
		}
	}
	var as []Assignment
	for i, id := range ids {
		as = append(as, Assignment{MemberID: id, Assignment: []byte("a-" + string(rune('0'+i)))})
	}
	syncs := make([]<-chan SyncResponse, n)
	for i, r := range resps {
		sr := SyncRequest{Group: "g", MemberID: ids[i], InstanceID: reqs[i].InstanceID, Generation: gen}
		if r.Leader == r.MemberID {
			sr.Assignments = as
		}
		syncs[i] = syncAsync(t, c, sr)
	}
	for i := range n {
		wantCode(t, "sync", recv(t, "sync", syncs[i]).Err, 0)
	}
	return ids, gen
}

// leaderOf is the group's leader, read from inside.
func leaderOf(t *testing.T, c *Coordinator) string {
	t.Helper()
	c.mu.Lock()
	g := c.groups["g"]
	c.mu.Unlock()
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.leader
}

// A static member that does not rejoin a rebalance is not kicked at the
// rebalance timeout (only its session, or a missed sync, removes it): the
// leader still gets it in the member list, so its partitions stay with it
// while it restarts.
func TestStaticMemberNotKickedAtRebalanceTimeout(t *testing.T) {
	e := newEnv(t, testOptions())
	c := e.c
	ids, gen := buildStatic(t, c, 2)
	leader := leaderOf(t, c)
	li := slices.Index(ids, leader)
	c.mu.Lock()
	g := c.groups["g"]
	c.mu.Unlock()
	g.mu.Lock()
	for _, m := range g.members {
		m.rebalance = 100 * time.Millisecond
	}
	g.mu.Unlock()
	r := joinReq("g", leader, "c")
	r.InstanceID = ptr("i" + string(rune('0'+li)))
	r.RebalanceTimeout = 100 * time.Millisecond
	j := c.Join(testCtx(t), r) // the leader asks for a rebalance; the other never rejoins
	wantCode(t, "rejoin", j.Err, 0)
	if j.Generation != gen+1 || !slices.Equal(memberIDs(j.Members), sorted(ids...)) {
		t.Fatalf("rejoin: %+v", j)
	}
}
