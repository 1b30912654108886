package group

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/loftmq/loft/internal/fs"
	"github.com/loftmq/loft/internal/logstore"
	"github.com/loftmq/loft/internal/meta"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// env is a coordinator on a real meta store on an in-memory disk.
type env struct {
	t   *testing.T
	mem *fs.Mem
	ls  *logstore.Store
	md  *meta.Store
	c   *Coordinator
}

// testOptions allow short session timeouts, so that expiry tests run in
// milliseconds.
func testOptions() Options {
	return Options{Logger: quiet, MinSessionTimeout: time.Millisecond, MaxSessionTimeout: time.Hour}
}

func newEnv(t *testing.T, opts Options) *env {
	t.Helper()
	e := &env{t: t, mem: fs.NewMem()}
	e.open(opts)
	t.Cleanup(e.close)
	return e
}

func (e *env) open(opts Options) {
	e.t.Helper()
	ls, err := logstore.Open(e.mem, "data", logstore.Options{
		Fsync:         logstore.FsyncPolicy{Mode: logstore.FsyncAlways},
		Logger:        quiet,
		CleanInterval: -1,
	})
	if err != nil {
		e.t.Fatalf("logstore.Open: %v", err)
	}
	md, err := meta.Open(ls)
	if err != nil {
		ls.Close()
		e.t.Fatalf("meta.Open: %v", err)
	}
	c, err := New(md, opts)
	if err != nil {
		e.t.Fatalf("New: %v", err)
	}
	e.ls, e.md, e.c = ls, md, c
}

func (e *env) close() {
	if e.c == nil {
		return
	}
	e.c.Close()
	e.md.Close()
	e.ls.Close()
	e.c, e.md, e.ls = nil, nil, nil
}

// reopen closes everything cleanly and opens it again on the same disk.
func (e *env) reopen(opts Options) {
	e.close()
	e.open(opts)
}

// crash drops everything the disk did not make durable, then opens again.
func (e *env) crash(opts Options) {
	e.mem.Crash()
	e.close()
	e.open(opts)
}

// testCtx is bounded, so that a test whose rebalance never completes
// fails rather than hangs.
func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func code(c int16) string {
	if c == 0 {
		return "NONE"
	}
	if err := kerr.TypedErrorForCode(c); err != nil {
		return err.Message
	}
	return "?"
}

func wantCode(t *testing.T, what string, got, want int16) {
	t.Helper()
	if got != want {
		t.Fatalf("%s: got %s, want %s", what, code(got), code(want))
	}
}

// consumerMeta encodes a ConsumerMemberMetadata subscribing to topics.
func consumerMeta(topics ...string) []byte {
	m := kmsg.NewConsumerMemberMetadata()
	m.Topics = topics
	return m.AppendTo(nil)
}

// joinReq is a consumer's JoinGroup, v5 (MEMBER_ID_REQUIRED applies).
func joinReq(group, memberID, clientID string, protocols ...string) JoinRequest {
	if len(protocols) == 0 {
		protocols = []string{"range"}
	}
	r := JoinRequest{
		Group:            group,
		MemberID:         memberID,
		ProtocolType:     "consumer",
		SessionTimeout:   10 * time.Second,
		RebalanceTimeout: 10 * time.Second,
		ClientID:         clientID,
		ClientHost:       "/127.0.0.1",
		Version:          5,
	}
	for _, p := range protocols {
		r.Protocols = append(r.Protocols, Protocol{Name: p, Metadata: consumerMeta("t")})
	}
	return r
}

// joinNew runs a new member's join round trip: MEMBER_ID_REQUIRED, then
// the join with the id handed out. It returns the id at once and the join
// through the channel, since the join may wait for others.
func joinNew(t *testing.T, c *Coordinator, r JoinRequest) (string, <-chan JoinResponse) {
	t.Helper()
	resp := c.Join(testCtx(t), r)
	wantCode(t, "first join", resp.Err, kerr.MemberIDRequired.Code)
	if resp.MemberID == "" {
		t.Fatal("MEMBER_ID_REQUIRED without a member id")
	}
	r.MemberID = resp.MemberID
	return resp.MemberID, joinAsync(t, c, r)
}

// joinAsync runs c.Join in a goroutine.
func joinAsync(t *testing.T, c *Coordinator, r JoinRequest) <-chan JoinResponse {
	ch := make(chan JoinResponse, 1)
	ctx := testCtx(t)
	go func() { ch <- c.Join(ctx, r) }()
	return ch
}

func syncAsync(t *testing.T, c *Coordinator, r SyncRequest) <-chan SyncResponse {
	ch := make(chan SyncResponse, 1)
	ctx := testCtx(t)
	go func() { ch <- c.Sync(ctx, r) }()
	return ch
}

// recv waits for a response, failing the test after a bound.
func recv[T any](t *testing.T, what string, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(20 * time.Second):
		t.Fatalf("%s: no answer", what)
		panic("unreachable")
	}
}

// notYet checks that ch has nothing now: a parked request stays parked.
func notYet[T any](t *testing.T, what string, ch <-chan T) {
	t.Helper()
	select {
	case v := <-ch:
		t.Fatalf("%s: answered early: %+v", what, v)
	default:
	}
}

// waitFor polls cond until it holds, failing after a bound. It only waits
// for a state to be reached; it never asserts timing.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// stateOf is the group's state as DescribeGroups gives it.
func stateOf(c *Coordinator, group string) (string, int) {
	d, _ := c.Describe(group)
	return d.State, len(d.Members)
}

func memberIDs(ms []Member) []string {
	var ids []string
	for _, m := range ms {
		ids = append(ids, m.ID)
	}
	slices.Sort(ids)
	return ids
}

func sorted(ids ...string) []string {
	ids = slices.Clone(ids)
	slices.Sort(ids)
	return ids
}

// stableGroup brings n new members into group through one rebalance and
// the leader's sync, each assigned "a-<its index>"; it returns their ids
// (index order) and the generation.
func stableGroup(t *testing.T, c *Coordinator, group string, n int, mod func(i int, r *JoinRequest)) ([]string, int32) {
	t.Helper()
	ids := make([]string, n)
	reqs := make([]JoinRequest, n)
	for i := range n {
		reqs[i] = joinReq(group, "", "client")
		if mod != nil {
			mod(i, &reqs[i])
		}
		resp := c.Join(testCtx(t), reqs[i])
		if resp.Err == kerr.MemberIDRequired.Code {
			ids[i] = resp.MemberID
		} else {
			t.Fatalf("join %d: %s", i, code(resp.Err))
		}
	}
	chans := make([]<-chan JoinResponse, n)
	for i := range n {
		reqs[i].MemberID = ids[i]
		chans[i] = joinAsync(t, c, reqs[i])
	}
	resps := make([]JoinResponse, n)
	for i := range n {
		resps[i] = recv(t, "join", chans[i])
		wantCode(t, "join", resps[i].Err, 0)
	}
	gen := resps[0].Generation
	var assignments []Assignment
	for i, id := range ids {
		assignments = append(assignments, Assignment{MemberID: id, Assignment: []byte("a-" + string(rune('0'+i)))})
	}
	syncs := make([]<-chan SyncResponse, n)
	for i, r := range resps {
		sr := SyncRequest{Group: group, MemberID: ids[i], InstanceID: reqs[i].InstanceID, Generation: gen}
		if r.Leader == r.MemberID {
			sr.Assignments = assignments
		}
		syncs[i] = syncAsync(t, c, sr)
	}
	for i := range n {
		s := recv(t, "sync", syncs[i])
		wantCode(t, "sync", s.Err, 0)
		if want := "a-" + string(rune('0'+i)); string(s.Assignment) != want {
			t.Fatalf("member %d assigned %q, want %q", i, s.Assignment, want)
		}
	}
	return ids, gen
}
