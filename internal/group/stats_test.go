package group

import (
	"slices"
	"testing"
)

// TestCommitted lists every group's committed offsets, sorted, including
// a group name and topic that need escaping in meta keys.
func TestCommitted(t *testing.T) {
	e := newEnv(t, testOptions())
	commit := func(group string, offs ...OffsetCommit) {
		t.Helper()
		if err, _ := e.c.Commit(testCtx(t), group, "", nil, -1, offs); err != 0 {
			t.Fatalf("commit %s: %s", group, code(err))
		}
	}
	commit("b/g", OffsetCommit{Topic: "t", Partition: 1, Offset: 5, LeaderEpoch: -1})
	commit("a", OffsetCommit{Topic: "t", Partition: 2, Offset: 9, LeaderEpoch: -1},
		OffsetCommit{Topic: "s%", Partition: 0, Offset: 3, LeaderEpoch: -1})
	commit("a", OffsetCommit{Topic: "t", Partition: 2, Offset: 11, LeaderEpoch: -1}) // the later commit wins
	want := []Committed{{"a", "s%", 0, 3}, {"a", "t", 2, 11}, {"b/g", "t", 1, 5}}
	if got := e.c.Committed(); !slices.Equal(got, want) {
		t.Fatalf("committed %+v, want %+v", got, want)
	}
}
