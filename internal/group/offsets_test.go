package group

import (
	"slices"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/loftmq/loft/internal/logstore"
	"github.com/loftmq/loft/internal/meta"
)

func fetchOne(t *testing.T, c *Coordinator, group, topic string, p int32) CommittedOffset {
	t.Helper()
	got := c.Fetch(group, map[string][]int32{topic: {p}})
	if len(got) != 1 {
		t.Fatalf("fetch: %+v", got)
	}
	return got[0]
}

func TestCommitValidation(t *testing.T) {
	e := newEnv(t, testOptions())
	c := e.c
	ids, gen := stableGroup(t, c, "g", 2, nil)
	one := []OffsetCommit{{Topic: "t", Partition: 0, Offset: 5, LeaderEpoch: 1}}
	for _, tc := range []struct {
		name          string
		group, member string
		instance      *string
		gen           int32
		want          int16
	}{
		{"member, current generation", "g", ids[0], nil, gen, 0},
		{"member, old generation", "g", ids[0], nil, gen - 1, kerr.IllegalGeneration.Code},
		{"member, future generation", "g", ids[0], nil, gen + 1, kerr.IllegalGeneration.Code},
		{"unknown member", "g", "ghost", nil, gen, kerr.UnknownMemberID.Code},
		{"admin commit to a group with members", "g", "", nil, -1, kerr.IllegalGeneration.Code},
		{"admin commit to a new group", "fresh", "", nil, -1, 0},
		{"member commit to a group without members", "fresh", "ghost", nil, 1, kerr.UnknownMemberID.Code},
		{"member commit to no group", "none", "ghost", nil, 1, kerr.UnknownMemberID.Code},
		{"unknown static instance", "g", ids[0], ptr("i9"), gen, 0}, // not a static member: unknown instance, known id
	} {
		err, per := c.Commit(testCtx(t), tc.group, tc.member, tc.instance, tc.gen, one)
		if err != tc.want || per[0] != tc.want {
			t.Errorf("%s: got %s / %s, want %s", tc.name, code(err), code(per[0]), code(tc.want))
		}
	}
	if got := fetchOne(t, c, "g", "t", 0); got.Offset != 5 || got.LeaderEpoch != 1 || got.Err != 0 {
		t.Fatalf("fetch: %+v", got)
	}
	if got := fetchOne(t, c, "none", "t", 0); got.Offset != -1 {
		t.Fatalf("a rejected commit was stored: %+v", got)
	}

	// During PreparingRebalance the current generation still commits;
	// during CompletingRebalance it must wait for its assignment.
	r := joinReq("g", "", "x")
	r.Version = 3
	j := joinAsync(t, c, r)
	waitFor(t, "the rebalance", func() bool { s, _ := stateOf(c, "g"); return s == "PreparingRebalance" })
	if err, _ := c.Commit(testCtx(t), "g", ids[0], nil, gen, one); err != 0 {
		t.Fatalf("commit while preparing: %s", code(err))
	}
	a, b := joinAsync(t, c, joinReq("g", ids[0], "c")), joinAsync(t, c, joinReq("g", ids[1], "c"))
	recv(t, "join", a)
	recv(t, "join", b)
	recv(t, "join", j)
	if err, _ := c.Commit(testCtx(t), "g", ids[0], nil, gen+1, one); err != kerr.RebalanceInProgress.Code {
		t.Fatalf("commit while completing: %s", code(err))
	}
}

func TestCommitAndFetch(t *testing.T) {
	e := newEnv(t, testOptions())
	c := e.c
	md := "checkpoint"
	big := strings.Repeat("x", MaxOffsetMetadataBytes+1)
	err, per := c.Commit(testCtx(t), "g", "", nil, -1, []OffsetCommit{
		{Topic: "t", Partition: 10, Offset: 100, LeaderEpoch: 3, Metadata: &md},
		{Topic: "t", Partition: 2, Offset: 20, LeaderEpoch: -1},
		{Topic: "a/b%c", Partition: 0, Offset: 7, LeaderEpoch: 0},
		{Topic: "t", Partition: 3, Offset: 30, Metadata: &big},
	})
	if err != 0 || !slices.Equal(per, []int16{0, 0, 0, kerr.OffsetMetadataTooLarge.Code}) {
		t.Fatalf("commit: %s %v", code(err), per)
	}
	all := c.Fetch("g", nil)
	var got []string
	for _, o := range all {
		got = append(got, o.Topic+":"+string(rune('0'+o.Partition%10))+":"+*o.Metadata)
	}
	if want := []string{"a/b%c:0:", "t:2:", "t:0:checkpoint"}; !slices.Equal(got, want) || all[2].Partition != 10 || all[2].Offset != 100 || all[2].LeaderEpoch != 3 {
		t.Fatalf("fetch all: %+v", all)
	}
	some := c.Fetch("g", map[string][]int32{"t": {2, 3, 99}, "nope": {0}})
	if len(some) != 4 || some[0].Topic != "nope" || some[0].Offset != -1 || some[0].LeaderEpoch != -1 ||
		some[1].Offset != 20 || some[2].Offset != -1 || some[3].Offset != -1 {
		t.Fatalf("fetch some: %+v", some)
	}
	if got := c.Fetch("other", nil); len(got) != 0 {
		t.Fatalf("fetch of another group: %+v", got)
	}
}

// batches counts the record batches of the __meta log.
func batches(t *testing.T, ls *logstore.Store) int {
	t.Helper()
	l, _ := ls.Log(meta.LogName)
	n := 0
	for off := l.StartOffset(); off < l.HighWatermark(); {
		buf, err := l.Read(nil, off, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		bs := logstore.SplitBatches(buf)
		for _, b := range bs {
			recs, err := logstore.DecodeRecords(b)
			if err != nil {
				t.Fatal(err)
			}
			off = recs[len(recs)-1].Offset + 1
			n++
		}
	}
	return n
}

// A commit is one meta.Apply: one batch in the log, all or nothing.
func TestCommitIsOneBatch(t *testing.T) {
	e := newEnv(t, testOptions())
	before := batches(t, e.ls)
	var offs []OffsetCommit
	for p := range int32(50) {
		offs = append(offs, OffsetCommit{Topic: "t", Partition: p, Offset: int64(p)})
	}
	if err, _ := e.c.Commit(testCtx(t), "g", "", nil, -1, offs); err != 0 {
		t.Fatal(code(err))
	}
	if got := batches(t, e.ls) - before; got != 1 {
		t.Fatalf("a commit of 50 partitions wrote %d batches, want 1", got)
	}
}

// Committed offsets survive a clean restart and a power loss after Commit
// returned; membership does not (members rejoin).
func TestOffsetsSurviveRestartAndCrash(t *testing.T) {
	opts := testOptions()
	e := newEnv(t, opts)
	ids, gen := stableGroup(t, e.c, "g", 1, nil)
	md := "m"
	if err, _ := e.c.Commit(testCtx(t), "g", ids[0], nil, gen, []OffsetCommit{{Topic: "t", Partition: 1, Offset: 42, LeaderEpoch: 2, Metadata: &md}}); err != 0 {
		t.Fatal(code(err))
	}
	e.reopen(opts)
	got := fetchOne(t, e.c, "g", "t", 1)
	if got.Offset != 42 || got.LeaderEpoch != 2 || *got.Metadata != "m" {
		t.Fatalf("after restart: %+v", got)
	}
	wantCode(t, "heartbeat after restart", e.c.Heartbeat("g", ids[0], nil, gen), kerr.UnknownMemberID.Code)
	if ls := e.c.List(nil); len(ls) != 1 || ls[0].Group != "g" || ls[0].State != "Empty" {
		t.Fatalf("list after restart: %+v", ls)
	}

	if err, _ := e.c.Commit(testCtx(t), "g", "", nil, -1, []OffsetCommit{{Topic: "t", Partition: 1, Offset: 43}, {Topic: "u", Offset: 1}}); err != 0 {
		t.Fatal(code(err))
	}
	e.crash(opts)
	if got := fetchOne(t, e.c, "g", "t", 1); got.Offset != 43 {
		t.Fatalf("after power loss: %+v", got)
	}
	if got := fetchOne(t, e.c, "g", "u", 0); got.Offset != 1 {
		t.Fatalf("after power loss: %+v", got)
	}
}

func TestDescribeAndList(t *testing.T) {
	e := newEnv(t, testOptions())
	c := e.c
	stableGroup(t, c, "active", 2, nil)
	c.Commit(testCtx(t), "offsets-only", "", nil, -1, []OffsetCommit{{Topic: "t"}})
	d, dc := c.Describe("offsets-only")
	if dc != 0 || d.State != "Empty" || len(d.Members) != 0 {
		t.Fatalf("describe offsets-only: %+v %s", d, code(dc))
	}
	d, dc = c.Describe("nothing")
	if dc != 0 || d.State != "Dead" || len(d.Members) != 0 {
		t.Fatalf("describe nothing: %+v %s", d, code(dc))
	}
	d, _ = c.Describe("active")
	if d.State != "Stable" || d.ProtocolType != "consumer" || len(d.Members) != 2 || d.Members[0].Metadata == nil {
		t.Fatalf("describe active: %+v", d)
	}
	for _, tc := range []struct {
		states []string
		want   []string
	}{
		{nil, []string{"active/Stable", "offsets-only/Empty"}},
		{[]string{"stable"}, []string{"active/Stable"}},
		{[]string{"Empty", "Dead"}, []string{"offsets-only/Empty"}},
		{[]string{"PreparingRebalance"}, nil},
	} {
		var got []string
		for _, l := range c.List(tc.states) {
			got = append(got, l.Group+"/"+l.State)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("list %v: %v, want %v", tc.states, got, tc.want)
		}
	}
}

func TestDeleteGroups(t *testing.T) {
	opts := testOptions()
	e := newEnv(t, opts)
	c := e.c
	ids, gen := stableGroup(t, c, "g", 1, nil)
	c.Commit(testCtx(t), "g", ids[0], nil, gen, []OffsetCommit{{Topic: "t", Offset: 9}})
	c.Commit(testCtx(t), "h", "", nil, -1, []OffsetCommit{{Topic: "t", Offset: 8}})
	wantCode(t, "delete with members", c.Delete(testCtx(t), "g"), kerr.NonEmptyGroup.Code)
	wantCode(t, "delete of nothing", c.Delete(testCtx(t), "nothing"), kerr.GroupIDNotFound.Code)
	wantCode(t, "delete offsets-only", c.Delete(testCtx(t), "h"), 0)
	wantCode(t, "delete again", c.Delete(testCtx(t), "h"), kerr.GroupIDNotFound.Code)
	c.Leave("g", []LeaveMember{{MemberID: ids[0]}})
	wantCode(t, "delete once empty", c.Delete(testCtx(t), "g"), 0)
	if ls := c.List(nil); len(ls) != 0 {
		t.Fatalf("groups left: %+v", ls)
	}
	e.crash(opts)
	if got := e.c.Fetch("g", nil); len(got) != 0 {
		t.Fatalf("offsets back after power loss: %+v", got)
	}
	if got := e.c.Fetch("h", nil); len(got) != 0 {
		t.Fatalf("offsets back after power loss: %+v", got)
	}
	// A deleted group can be used again from scratch.
	if err, _ := e.c.Commit(testCtx(t), "g", "", nil, -1, []OffsetCommit{{Topic: "t", Offset: 1}}); err != 0 {
		t.Fatal(code(err))
	}
}

func TestDeleteOffsets(t *testing.T) {
	opts := testOptions()
	e := newEnv(t, opts)
	c := e.c
	// A consumer group subscribed to "t".
	ids, gen := stableGroup(t, c, "g", 1, nil)
	c.Commit(testCtx(t), "g", ids[0], nil, gen, []OffsetCommit{{Topic: "t", Offset: 1}, {Topic: "u", Offset: 2}, {Topic: "u", Partition: 1, Offset: 3}})
	err, per := c.DeleteOffsets(testCtx(t), "g", map[string][]int32{"t": {0}, "u": {0, 5}})
	if err != 0 || per["t"][0] != kerr.GroupSubscribedToTopic.Code || per["u"][0] != 0 || per["u"][5] != 0 {
		t.Fatalf("delete offsets: %s %v", code(err), per)
	}
	e.crash(opts)
	c = e.c
	got := c.Fetch("g", nil)
	if len(got) != 2 || got[0].Topic != "t" || got[1].Topic != "u" || got[1].Partition != 1 {
		t.Fatalf("after delete and power loss: %+v", got)
	}
	// With no members left (membership did not survive), anything goes.
	err, per = c.DeleteOffsets(testCtx(t), "g", map[string][]int32{"t": {0}})
	if err != 0 || per["t"][0] != 0 || len(c.Fetch("g", nil)) != 1 {
		t.Fatalf("delete from empty group: %s %v %+v", code(err), per, c.Fetch("g", nil))
	}
	if err, _ := c.DeleteOffsets(testCtx(t), "nothing", map[string][]int32{"t": {0}}); err != kerr.GroupIDNotFound.Code {
		t.Fatalf("delete offsets of no group: %s", code(err))
	}
	// A group of another protocol type with members: NON_EMPTY_GROUP.
	r := joinReq("conn", "", "c")
	r.ProtocolType, r.Version = "connect", 3
	wantCode(t, "join", c.Join(testCtx(t), r).Err, 0)
	if err, _ := c.DeleteOffsets(testCtx(t), "conn", map[string][]int32{"t": {0}}); err != kerr.NonEmptyGroup.Code {
		t.Fatalf("delete offsets of an active connect group: %s", code(err))
	}
}

func TestTopicDeleted(t *testing.T) {
	e := newEnv(t, testOptions())
	c := e.c
	c.Commit(testCtx(t), "g1", "", nil, -1, []OffsetCommit{{Topic: "t", Offset: 1}, {Topic: "keep", Offset: 2}})
	c.Commit(testCtx(t), "g2", "", nil, -1, []OffsetCommit{{Topic: "t", Partition: 3, Offset: 1}})
	c.TopicDeleted(testCtx(t), "t")
	if got := c.Fetch("g1", nil); len(got) != 1 || got[0].Topic != "keep" {
		t.Fatalf("g1: %+v", got)
	}
	if got := c.Fetch("g2", nil); len(got) != 0 {
		t.Fatalf("g2: %+v", got)
	}
}

func TestOffsetKeys(t *testing.T) {
	for _, tc := range []struct {
		group, topic string
		p            int32
	}{
		{"g", "t", 0},
		{"a/b", "c%d", 2147483647},
		{"", "t", 1},
	} {
		g, topic, p, ok := parseOffsetKey(offsetKey(tc.group, tc.topic, tc.p))
		if !ok || g != tc.group || topic != tc.topic || p != tc.p {
			t.Errorf("%+v: round trip gave %q %q %d %v", tc, g, topic, p, ok)
		}
	}
	for _, k := range []string{"group/g/offset/t", "group/g/offset/t/x", "group/g/other/t/1", "topic/t", "group/g/offset/t/1/2"} {
		if _, _, _, ok := parseOffsetKey(k); ok {
			t.Errorf("%q parsed as an offset key", k)
		}
	}
}
