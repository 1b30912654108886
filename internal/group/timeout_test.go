package group

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// A member that stops heartbeating is removed when its session ends, and
// the others, told by their heartbeats, rebalance without it.
func TestSessionTimeoutKicksSilentMember(t *testing.T) {
	e := newEnv(t, testOptions())
	c := e.c
	ids, gen := stableGroup(t, c, "g", 2, func(i int, r *JoinRequest) {
		if i == 1 {
			r.SessionTimeout = 100 * time.Millisecond // the silent one
		}
	})
	// Member 0 keeps heartbeating; its session is long. The wait is
	// bounded by waitFor; nothing here depends on how long it takes.
	waitFor(t, "a rebalance after the silent member expired", func() bool {
		got := c.Heartbeat("g", ids[0], nil, gen)
		if got != 0 && got != kerr.RebalanceInProgress.Code {
			t.Fatalf("heartbeat: %s", code(got))
		}
		return got == kerr.RebalanceInProgress.Code
	})
	wantCode(t, "heartbeat of the expired member", c.Heartbeat("g", ids[1], nil, gen), kerr.UnknownMemberID.Code)
	j := c.Join(testCtx(t), joinReq("g", ids[0], "client"))
	wantCode(t, "rejoin", j.Err, 0)
	if j.Generation != gen+1 || !slices.Equal(memberIDs(j.Members), ids[:1]) {
		t.Fatalf("rejoin: %+v", j)
	}
}

// Heartbeats, syncs and commits all keep a member alive: a member whose
// session is short but who keeps calling is never expired.
func TestActivityKeepsSessionAlive(t *testing.T) {
	e := newEnv(t, testOptions())
	c := e.c
	ids, gen := stableGroup(t, c, "g", 1, func(_ int, r *JoinRequest) { r.SessionTimeout = 300 * time.Millisecond })
	end := time.Now().Add(time.Second)
	for i := 0; time.Now().Before(end); i++ {
		var got int16
		switch i % 3 {
		case 0:
			got = c.Heartbeat("g", ids[0], nil, gen)
		case 1:
			got = c.Sync(testCtx(t), SyncRequest{Group: "g", MemberID: ids[0], Generation: gen}).Err
		case 2:
			got, _ = c.Commit(testCtx(t), "g", ids[0], nil, gen, []OffsetCommit{{Topic: "t", Offset: int64(i)}})
		}
		wantCode(t, "call", got, 0)
		time.Sleep(20 * time.Millisecond)
	}
}

// A member that heartbeats but does not rejoin when the group rebalances
// is kicked at the rebalance timeout; the join completes without it.
func TestRebalanceTimeoutKicksMemberNotRejoining(t *testing.T) {
	e := newEnv(t, testOptions())
	c := e.c
	ids, gen := stableGroup(t, c, "g", 2, func(_ int, r *JoinRequest) { r.RebalanceTimeout = 150 * time.Millisecond })
	// A third member arrives: a rebalance.
	r3 := joinReq("g", "", "cli")
	r3.RebalanceTimeout = 150 * time.Millisecond
	id3, j3 := joinNew(t, c, r3)
	waitFor(t, "the third member to wait", func() bool { s, n := stateOf(c, "g"); return s == "PreparingRebalance" && n == 3 })
	wantCode(t, "heartbeat", c.Heartbeat("g", ids[0], nil, gen), kerr.RebalanceInProgress.Code)
	r0 := joinReq("g", ids[0], "client")
	r0.RebalanceTimeout = 150 * time.Millisecond
	j0 := joinAsync(t, c, r0)
	// Member 1 does not rejoin; the others wait for it until the
	// rebalance timeout.
	a, b := recv(t, "join", j0), recv(t, "join", j3)
	wantCode(t, "join 0", a.Err, 0)
	wantCode(t, "join 3", b.Err, 0)
	if a.Generation != gen+1 || b.Generation != gen+1 {
		t.Fatalf("generations %d %d, want %d", a.Generation, b.Generation, gen+1)
	}
	lead := a
	if b.Leader == b.MemberID {
		lead = b
	}
	if got := memberIDs(lead.Members); !slices.Equal(got, sorted(ids[0], id3)) {
		t.Fatalf("members %v", got)
	}
	wantCode(t, "heartbeat of the kicked member", c.Heartbeat("g", ids[1], nil, gen), kerr.UnknownMemberID.Code)
}

// A member answered by JoinGroup that never sends SyncGroup is kicked at
// the rebalance timeout, and the group rebalances without it.
func TestSyncTimeoutKicksMemberNotSyncing(t *testing.T) {
	e := newEnv(t, testOptions())
	c := e.c
	ids := make([]string, 2)
	reqs := make([]JoinRequest, 2)
	for i := range ids {
		reqs[i] = joinReq("g", "", "cli")
		reqs[i].RebalanceTimeout = 150 * time.Millisecond
		ids[i] = c.Join(testCtx(t), reqs[i]).MemberID
		reqs[i].MemberID = ids[i]
	}
	ja, jb := joinAsync(t, c, reqs[0]), joinAsync(t, c, reqs[1])
	a, b := recv(t, "join", ja), recv(t, "join", jb)
	leader := a
	silent := b.MemberID
	if b.Leader == b.MemberID {
		leader, silent = b, a.MemberID
	}
	s := c.Sync(testCtx(t), SyncRequest{Group: "g", MemberID: leader.MemberID, Generation: leader.Generation,
		Assignments: []Assignment{{MemberID: a.MemberID, Assignment: []byte("x")}, {MemberID: b.MemberID, Assignment: []byte("y")}}})
	wantCode(t, "leader sync", s.Err, 0)
	waitFor(t, "the member that never synced to be kicked", func() bool {
		got := c.Heartbeat("g", leader.MemberID, nil, leader.Generation)
		return got == kerr.RebalanceInProgress.Code
	})
	wantCode(t, "heartbeat of the kicked member", c.Heartbeat("g", silent, nil, leader.Generation), kerr.UnknownMemberID.Code)
}

// A member id handed out by MEMBER_ID_REQUIRED holds up a rebalance until
// it joins or its session timeout passes.
func TestPendingMemberExpires(t *testing.T) {
	e := newEnv(t, testOptions())
	c := e.c
	ids, gen := stableGroup(t, c, "g", 1, nil)
	r := joinReq("g", "", "late")
	r.SessionTimeout = 100 * time.Millisecond
	pending := c.Join(testCtx(t), r)
	wantCode(t, "first join", pending.Err, kerr.MemberIDRequired.Code)
	if s, _ := stateOf(c, "g"); s != "Stable" {
		t.Fatalf("a pending member rebalanced the group: %s", s)
	}
	// The leader rejoins (a rebalance); it waits for the pending member,
	// which never comes: its session ends and the join completes.
	j := c.Join(testCtx(t), joinReq("g", ids[0], "client"))
	wantCode(t, "rejoin", j.Err, 0)
	if j.Generation != gen+1 || len(j.Members) != 1 {
		t.Fatalf("rejoin: %+v", j)
	}
	r.MemberID = pending.MemberID
	wantCode(t, "join after expiry", c.Join(testCtx(t), r).Err, kerr.UnknownMemberID.Code)
}

// A new member whose caller gives up waiting (ctx ends) is dropped and
// does not hold up the others.
func TestAbandonedJoin(t *testing.T) {
	e := newEnv(t, testOptions())
	c := e.c
	ids, gen := stableGroup(t, c, "g", 1, nil)
	r := joinReq("g", "", "cli")
	r.Version = 3
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan JoinResponse, 1)
	go func() { ch <- c.Join(ctx, r) }()
	waitFor(t, "the new member to wait", func() bool { s, n := stateOf(c, "g"); return s == "PreparingRebalance" && n == 2 })
	cancel()
	wantCode(t, "abandoned join", recv(t, "join", ch).Err, kerr.RebalanceInProgress.Code)
	if _, n := stateOf(c, "g"); n != 1 {
		t.Fatalf("%d members after the new one gave up, want 1", n)
	}
	j := c.Join(testCtx(t), joinReq("g", ids[0], "client"))
	wantCode(t, "rejoin", j.Err, 0)
	if j.Generation != gen+1 || len(j.Members) != 1 {
		t.Fatalf("rejoin: %+v", j)
	}
}

// The initial rebalance delay gathers members starting together into the
// first generation even when they do not come at the same instant: the
// first join of an empty group waits out the delay instead of completing
// alone at once.
func TestInitialRebalanceDelay(t *testing.T) {
	opts := testOptions()
	opts.InitialRebalanceDelay = time.Second
	e := newEnv(t, opts)
	c := e.c
	r1, r2 := joinReq("g", "", "a"), joinReq("g", "", "b")
	r1.Version, r2.Version = 3, 3
	r1.RebalanceTimeout, r2.RebalanceTimeout = time.Second, time.Second
	j1 := joinAsync(t, c, r1)
	waitFor(t, "the first member to wait", func() bool { _, n := stateOf(c, "g"); return n == 1 })
	notYet(t, "join during the delay", j1)
	j2 := joinAsync(t, c, r2)
	a, b := recv(t, "join", j1), recv(t, "join", j2)
	wantCode(t, "join", a.Err, 0)
	wantCode(t, "join", b.Err, 0)
	if a.Generation != 1 || b.Generation != 1 || a.Leader != b.Leader {
		t.Fatalf("not one generation: %+v %+v", a, b)
	}
}

// Close answers every waiting JoinGroup and SyncGroup, and every later
// call gets COORDINATOR_NOT_AVAILABLE.
func TestCloseAnswersWaiters(t *testing.T) {
	e := newEnv(t, testOptions())
	c := e.c
	ids, gen := stableGroup(t, c, "g", 2, nil)
	// A new member (JoinGroup v3: no MEMBER_ID_REQUIRED) starts a
	// rebalance and waits for the others to rejoin.
	r := joinReq("g", "", "new")
	r.Version = 3
	j0 := joinAsync(t, c, r)
	waitFor(t, "the new member to wait", func() bool { s, n := stateOf(c, "g"); return s == "PreparingRebalance" && n == 3 })
	c.Close()
	wantCode(t, "join after close", recv(t, "join", j0).Err, kerr.CoordinatorNotAvailable.Code)
	wantCode(t, "heartbeat after close", c.Heartbeat("g", ids[1], nil, gen), kerr.CoordinatorNotAvailable.Code)
	wantCode(t, "join after close", c.Join(testCtx(t), joinReq("g", "", "y")).Err, kerr.CoordinatorNotAvailable.Code)
	wantCode(t, "sync after close", c.Sync(testCtx(t), SyncRequest{Group: "g", MemberID: ids[1], Generation: gen}).Err, kerr.CoordinatorNotAvailable.Code)
	if err, _ := c.Commit(testCtx(t), "g", "", nil, -1, []OffsetCommit{{Topic: "t"}}); err != kerr.CoordinatorNotAvailable.Code {
		t.Fatalf("commit after close: %s", code(err))
	}
	if _, d := c.Describe("g"); d != kerr.CoordinatorNotAvailable.Code {
		t.Fatalf("describe after close: %s", code(d))
	}
}

// Close answers a member waiting in SyncGroup too.
func TestCloseAnswersSync(t *testing.T) {
	e := newEnv(t, testOptions())
	c := e.c
	reqs := []JoinRequest{joinReq("g", "", "a"), joinReq("g", "", "b")}
	for i := range reqs {
		reqs[i].MemberID = c.Join(testCtx(t), reqs[i]).MemberID
	}
	ja, jb := joinAsync(t, c, reqs[0]), joinAsync(t, c, reqs[1])
	a, b := recv(t, "join", ja), recv(t, "join", jb)
	follower := a
	if a.Leader == a.MemberID {
		follower = b
	}
	s := syncAsync(t, c, SyncRequest{Group: "g", MemberID: follower.MemberID, Generation: follower.Generation})
	waitFor(t, "the follower to wait in sync", func() bool {
		c.mu.Lock()
		g := c.groups["g"]
		c.mu.Unlock()
		g.mu.Lock()
		defer g.mu.Unlock()
		return g.members[follower.MemberID].awaitingSync()
	})
	c.Close()
	wantCode(t, "sync at close", recv(t, "sync", s).Err, kerr.CoordinatorNotAvailable.Code)
}
