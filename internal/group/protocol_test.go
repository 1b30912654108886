package group

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
)

// Protocol selection: among the protocols every member supports, each
// member votes for its most preferred one.
func TestSelectProtocol(t *testing.T) {
	for _, tc := range []struct {
		name    string
		members [][]string // each member's protocols, in preference order
		leader  int
		want    string
	}{
		{"one member", [][]string{{"range", "roundrobin"}}, 0, "range"},
		{"majority", [][]string{{"range", "rr"}, {"rr", "range"}, {"rr", "range"}}, 0, "rr"},
		{"only common one", [][]string{{"sticky", "range"}, {"range"}, {"coop", "range"}}, 0, "range"},
		{"vote for first common", [][]string{{"x", "rr", "range"}, {"rr", "range"}, {"range", "rr"}}, 0, "rr"},
		{"tie goes to the leader's preference", [][]string{{"a", "b"}, {"b", "a"}}, 1, "b"},
		{"tie, other leader", [][]string{{"a", "b"}, {"b", "a"}}, 0, "a"},
	} {
		g := newGroup(&Coordinator{log: quiet}, "g")
		for i, ps := range tc.members {
			m := &member{id: string(rune('A' + i))}
			for _, p := range ps {
				m.protocols = append(m.protocols, Protocol{Name: p})
			}
			g.members[m.id] = m
		}
		g.leader = string(rune('A' + tc.leader))
		if got := g.selectProtocol(); got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.name, got, tc.want)
		}
	}
}

// A member must share a protocol (and the protocol type) with every
// member already in the group.
func TestInconsistentProtocols(t *testing.T) {
	e := newEnv(t, testOptions())
	c := e.c
	ids, gen := stableGroup(t, c, "g", 1, func(_ int, r *JoinRequest) {
		r.Protocols = []Protocol{{Name: "range"}, {Name: "sticky"}}
	})
	incons := kerr.InconsistentGroupProtocol.Code
	for _, tc := range []struct {
		name string
		r    JoinRequest
		want int16
	}{
		{"no protocol in common", joinReq("g", "", "x", "roundrobin"), incons},
		{"other protocol type", func() JoinRequest { r := joinReq("g", "", "x"); r.ProtocolType = "connect"; return r }(), incons},
		{"one in common", joinReq("g", "", "x", "roundrobin", "sticky"), kerr.MemberIDRequired.Code},
		{"member rejoining without a common protocol", joinReq("g", ids[0], "x", "roundrobin"), incons},
	} {
		if got := c.Join(testCtx(t), tc.r).Err; got != tc.want {
			t.Errorf("%s: got %s, want %s", tc.name, code(got), code(tc.want))
		}
	}
	wantCode(t, "heartbeat", c.Heartbeat("g", ids[0], nil, gen), 0)
}

// Members with the consumer protocol type subscribe to topics in their
// metadata; OffsetDelete reads them.
func TestSubscribedTopics(t *testing.T) {
	g := newGroup(&Coordinator{log: quiet}, "g")
	g.members["a"] = &member{id: "a", protocols: []Protocol{{Name: "range", Metadata: consumerMeta("t1", "t2")}}}
	g.members["b"] = &member{id: "b", protocols: []Protocol{{Name: "range", Metadata: consumerMeta("t3")}, {Name: "rr", Metadata: consumerMeta("t3")}}}
	got, all := g.subscribedTopics()
	if all || len(got) != 3 || !got["t1"] || !got["t2"] || !got["t3"] {
		t.Fatalf("subscribed %v (all %v)", got, all)
	}
	g.members["c"] = &member{id: "c", protocols: []Protocol{{Name: "range", Metadata: []byte{0xff}}}}
	if _, all := g.subscribedTopics(); !all {
		t.Fatal("unparsable metadata must count as subscribed to everything")
	}
}
