package group

import (
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

func TestSingleMember(t *testing.T) {
	e := newEnv(t, testOptions())
	c := e.c
	r := joinReq("g", "", "cli")
	id, ch := joinNew(t, c, r)
	if !strings.HasPrefix(id, "cli-") || len(id) != len("cli-")+36 {
		t.Fatalf("member id %q, want cli-<uuid>", id)
	}
	j := recv(t, "join", ch)
	wantCode(t, "join", j.Err, 0)
	if j.Generation != 1 || j.Leader != id || j.MemberID != id || j.Protocol != "range" || j.ProtocolType != "consumer" {
		t.Fatalf("join: %+v", j)
	}
	if got := memberIDs(j.Members); !slices.Equal(got, []string{id}) || !slices.Equal(j.Members[0].Metadata, consumerMeta("t")) {
		t.Fatalf("leader's members: %+v", j.Members)
	}
	if s, _ := stateOf(c, "g"); s != "CompletingRebalance" {
		t.Fatalf("state %s, want CompletingRebalance", s)
	}
	wantCode(t, "heartbeat while completing", c.Heartbeat("g", id, nil, 1), 0)

	s := c.Sync(testCtx(t), SyncRequest{Group: "g", MemberID: id, Generation: 1, Assignments: []Assignment{{MemberID: id, Assignment: []byte("mine")}}})
	wantCode(t, "sync", s.Err, 0)
	if string(s.Assignment) != "mine" || *s.Protocol != "range" || *s.ProtocolType != "consumer" {
		t.Fatalf("sync: %+v", s)
	}
	wantCode(t, "heartbeat", c.Heartbeat("g", id, nil, 1), 0)
	wantCode(t, "heartbeat, old generation", c.Heartbeat("g", id, nil, 0), kerr.IllegalGeneration.Code)
	wantCode(t, "heartbeat, unknown member", c.Heartbeat("g", "nobody", nil, 1), kerr.UnknownMemberID.Code)
	wantCode(t, "heartbeat, unknown group", c.Heartbeat("other", id, nil, 1), kerr.UnknownMemberID.Code)
	wantCode(t, "heartbeat, no group", c.Heartbeat("", id, nil, 1), kerr.InvalidGroupID.Code)

	d, dc := c.Describe("g")
	wantCode(t, "describe", dc, 0)
	if d.State != "Stable" || d.Protocol != "range" || len(d.Members) != 1 || string(d.Members[0].Assignment) != "mine" ||
		d.Members[0].ClientID != "cli" || d.Members[0].ClientHost != "/127.0.0.1" {
		t.Fatalf("describe: %+v", d)
	}
	// A follower-like rejoin with the same metadata: no new generation
	// for a non-leader; the leader's rejoin starts one.
	r.MemberID = id
	j = c.Join(testCtx(t), r)
	wantCode(t, "leader rejoin", j.Err, 0)
	if j.Generation != 2 {
		t.Fatalf("leader rejoin: generation %d, want 2", j.Generation)
	}
	// The sync of the same generation again, once stable, gives the
	// assignment again.
	s = c.Sync(testCtx(t), SyncRequest{Group: "g", MemberID: id, Generation: 2, Assignments: []Assignment{{MemberID: id, Assignment: []byte("x")}}})
	wantCode(t, "sync", s.Err, 0)
	s = c.Sync(testCtx(t), SyncRequest{Group: "g", MemberID: id, Generation: 2})
	if s.Err != 0 || string(s.Assignment) != "x" {
		t.Fatalf("second sync: %+v", s)
	}
	wantCode(t, "sync, old generation", c.Sync(testCtx(t), SyncRequest{Group: "g", MemberID: id, Generation: 1}).Err, kerr.IllegalGeneration.Code)
	other := "sticky"
	wantCode(t, "sync, other protocol", c.Sync(testCtx(t), SyncRequest{Group: "g", MemberID: id, Generation: 2, Protocol: &other}).Err, kerr.InconsistentGroupProtocol.Code)
}

func TestJoinValidation(t *testing.T) {
	e := newEnv(t, Options{Logger: quiet}) // Kafka's session bounds: 6s..30min
	c := e.c
	for _, tc := range []struct {
		name string
		mod  func(*JoinRequest)
		want int16
	}{
		{"no group", func(r *JoinRequest) { r.Group = "" }, kerr.InvalidGroupID.Code},
		{"session too short", func(r *JoinRequest) { r.SessionTimeout = 5 * time.Second }, kerr.InvalidSessionTimeout.Code},
		{"session too long", func(r *JoinRequest) { r.SessionTimeout = 31 * time.Minute }, kerr.InvalidSessionTimeout.Code},
		{"no protocol type", func(r *JoinRequest) { r.ProtocolType = "" }, kerr.InconsistentGroupProtocol.Code},
		{"no protocols", func(r *JoinRequest) { r.Protocols = nil }, kerr.InconsistentGroupProtocol.Code},
		{"unknown member of a new group", func(r *JoinRequest) { r.MemberID = "ghost" }, kerr.UnknownMemberID.Code},
		{"v4 asks for a member id", func(r *JoinRequest) {}, kerr.MemberIDRequired.Code},
	} {
		r := joinReq("g", "", "cli")
		tc.mod(&r)
		got := c.Join(testCtx(t), r)
		if got.Err != tc.want {
			t.Errorf("%s: got %s, want %s", tc.name, code(got.Err), code(tc.want))
		}
		if got.Err != kerr.MemberIDRequired.Code && got.Generation != -1 {
			t.Errorf("%s: generation %d on error, want -1", tc.name, got.Generation)
		}
	}
	// The failed joins left no group behind (the MEMBER_ID_REQUIRED one
	// made an empty one, as in Kafka).
	if ls := c.List(nil); len(ls) != 1 || ls[0].Group != "g" || ls[0].State != "Empty" {
		t.Fatalf("groups: %+v", ls)
	}
}

// A JoinGroup before v4 joins at once, without the MEMBER_ID_REQUIRED
// round trip.
func TestJoinOldVersion(t *testing.T) {
	e := newEnv(t, testOptions())
	r := joinReq("g", "", "cli")
	r.Version = 3
	r.RebalanceTimeout = 0 // v0 has none: the session timeout stands in
	j := e.c.Join(testCtx(t), r)
	wantCode(t, "join", j.Err, 0)
	if j.Generation != 1 || j.Leader != j.MemberID || !strings.HasPrefix(j.MemberID, "cli-") {
		t.Fatalf("join: %+v", j)
	}
}

// Members joining together land in one generation: the MEMBER_ID_REQUIRED
// ids handed out are waited for, so the join completes with all of them.
func TestConcurrentJoin(t *testing.T) {
	for _, n := range []int{2, 3} {
		e := newEnv(t, testOptions())
		c := e.c
		// Every member first gets its id (MEMBER_ID_REQUIRED), all at
		// once; then all join with their ids at once.
		var wg sync.WaitGroup
		reqs := make([]JoinRequest, n)
		ids := make([]string, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				reqs[i] = joinReq("g", "", "cli")
				first := c.Join(testCtx(t), reqs[i])
				if first.Err != kerr.MemberIDRequired.Code {
					t.Errorf("first join: %s", code(first.Err))
				}
				ids[i] = first.MemberID
				reqs[i].MemberID = first.MemberID
			}()
		}
		wg.Wait()
		if t.Failed() {
			return
		}
		resps := make([]JoinResponse, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				resps[i] = c.Join(testCtx(t), reqs[i])
			}()
		}
		wg.Wait()
		leaders := 0
		for i, r := range resps {
			wantCode(t, "join", r.Err, 0)
			if r.Generation != resps[0].Generation || r.Leader != resps[0].Leader || r.MemberID != ids[i] {
				t.Fatalf("n=%d: responses disagree: %+v", n, resps)
			}
			if r.Leader == r.MemberID {
				leaders++
				if got := memberIDs(r.Members); !slices.Equal(got, sorted(ids...)) {
					t.Fatalf("n=%d: leader's members %v, want %v", n, got, sorted(ids...))
				}
			} else if r.Members != nil {
				t.Fatalf("n=%d: a follower got the member list", n)
			}
		}
		if leaders != 1 || resps[0].Generation != 1 {
			t.Fatalf("n=%d: %d leaders, generation %d", n, leaders, resps[0].Generation)
		}
	}
}

// A member leaving rebalances the rest: they learn of it from their
// heartbeat and rejoin into the next generation. The leader leaving hands
// the lead to another member.
func TestLeaveRebalances(t *testing.T) {
	e := newEnv(t, testOptions())
	c := e.c
	ids, gen := stableGroup(t, c, "g", 3, nil)
	err, per := c.Leave("g", []LeaveMember{{MemberID: ids[2]}, {MemberID: "ghost"}})
	wantCode(t, "leave", err, 0)
	if per[0] != 0 || per[1] != kerr.UnknownMemberID.Code {
		t.Fatalf("leave: %v", per)
	}
	if s, n := stateOf(c, "g"); s != "PreparingRebalance" || n != 2 {
		t.Fatalf("after leave: %s with %d members", s, n)
	}
	wantCode(t, "heartbeat of the one gone", c.Heartbeat("g", ids[2], nil, gen), kerr.UnknownMemberID.Code)
	var chans []<-chan JoinResponse
	for _, id := range ids[:2] {
		wantCode(t, "heartbeat", c.Heartbeat("g", id, nil, gen), kerr.RebalanceInProgress.Code)
		chans = append(chans, joinAsync(t, c, joinReq("g", id, "client")))
	}
	a, b := recv(t, "rejoin", chans[0]), recv(t, "rejoin", chans[1])
	wantCode(t, "rejoin", a.Err, 0)
	wantCode(t, "rejoin", b.Err, 0)
	if a.Generation != gen+1 || b.Generation != gen+1 || a.Leader != b.Leader {
		t.Fatalf("rejoin: %+v %+v", a, b)
	}
	l := a
	if b.Leader == b.MemberID {
		l = b
	}
	if got := memberIDs(l.Members); !slices.Equal(got, sorted(ids[:2]...)) {
		t.Fatalf("members after leave: %v", got)
	}

	// Now the leader leaves while the others wait in SyncGroup: they
	// are told to rejoin, and the one left leads.
	follower := a.MemberID
	if follower == l.Leader {
		follower = b.MemberID
	}
	sc := syncAsync(t, c, SyncRequest{Group: "g", MemberID: follower, Generation: gen + 1})
	waitFor(t, "the follower to wait in sync", func() bool {
		c.mu.Lock()
		g := c.groups["g"]
		c.mu.Unlock()
		g.mu.Lock()
		defer g.mu.Unlock()
		return g.members[follower].awaitingSync()
	})
	err, per = c.Leave("g", []LeaveMember{{MemberID: l.Leader}})
	if err != 0 || per[0] != 0 {
		t.Fatalf("leader leave: %s %v", code(err), per)
	}
	wantCode(t, "sync after the leader left", recv(t, "sync", sc).Err, kerr.RebalanceInProgress.Code)
	j := c.Join(testCtx(t), joinReq("g", follower, "client"))
	wantCode(t, "rejoin", j.Err, 0)
	if j.Leader != follower || j.Generation != gen+2 || len(j.Members) != 1 {
		t.Fatalf("alone: %+v", j)
	}
	// The last one leaving empties the group.
	c.Leave("g", []LeaveMember{{MemberID: follower}})
	if s, n := stateOf(c, "g"); s != "Empty" || n != 0 {
		t.Fatalf("after everyone left: %s, %d members", s, n)
	}
}
