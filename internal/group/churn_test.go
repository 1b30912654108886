package group

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// client plays a Kafka consumer's group loop against the coordinator:
// join (with the MEMBER_ID_REQUIRED round trip), sync (assigning, when it
// leads, each member its own id), heartbeat until told to rejoin.
type client struct {
	c   *Coordinator
	r   JoinRequest
	mu  sync.Mutex
	gen int32  // generation of the last successful sync
	id  string // member id of the last successful sync
	got string // assignment of the last successful sync
}

func (cl *client) run(ctx context.Context, leave bool) {
	c, r := cl.c, cl.r
	defer func() {
		if leave && r.MemberID != "" {
			c.Leave(r.Group, []LeaveMember{{MemberID: r.MemberID}})
		}
	}()
	for ctx.Err() == nil {
		j := c.Join(ctx, r)
		switch j.Err {
		case 0:
		case kerr.MemberIDRequired.Code:
			r.MemberID = j.MemberID
			continue
		case kerr.UnknownMemberID.Code:
			r.MemberID = ""
			continue
		default:
			continue
		}
		r.MemberID = j.MemberID
		sr := SyncRequest{Group: r.Group, MemberID: j.MemberID, Generation: j.Generation}
		if j.Leader == j.MemberID {
			for _, m := range j.Members {
				sr.Assignments = append(sr.Assignments, Assignment{MemberID: m.ID, Assignment: []byte(m.ID)})
			}
		}
		s := c.Sync(ctx, sr)
		if s.Err == kerr.UnknownMemberID.Code {
			r.MemberID = ""
		}
		if s.Err != 0 {
			continue
		}
		cl.mu.Lock()
		cl.gen, cl.id, cl.got = j.Generation, j.MemberID, string(s.Assignment)
		cl.mu.Unlock()
		for ctx.Err() == nil {
			h := c.Heartbeat(r.Group, r.MemberID, nil, j.Generation)
			if h == kerr.UnknownMemberID.Code {
				r.MemberID = ""
			}
			if h != 0 {
				break
			}
			select {
			case <-ctx.Done():
			case <-time.After(10 * time.Millisecond):
			}
		}
	}
}

// converged reports whether the group is Stable with exactly the members
// of clients, each synced into the current generation with its own
// assignment.
func converged(c *Coordinator, group string, clients []*client) bool {
	c.mu.Lock()
	g := c.groups[group]
	c.mu.Unlock()
	if g == nil {
		return false
	}
	g.mu.Lock()
	st, gen, n := g.state, g.generation, len(g.members)
	g.mu.Unlock()
	if st != stateStable || n != len(clients) {
		return false
	}
	for _, cl := range clients {
		cl.mu.Lock()
		ok := cl.gen == gen && cl.got == cl.id
		cl.mu.Unlock()
		if !ok {
			return false
		}
	}
	return true
}

// Consumers starting together, then one leaving and one dying silently:
// every time, the group settles on one generation holding exactly the
// live consumers, each with its assignment.
func TestChurnConverges(t *testing.T) {
	e := newEnv(t, testOptions())
	c := e.c
	var wg sync.WaitGroup
	var clients []*client
	cancels := make([]context.CancelFunc, 4)
	for i := range 4 {
		r := joinReq("g", "", "c")
		r.SessionTimeout = 300 * time.Millisecond
		r.RebalanceTimeout = time.Second
		cl := &client{c: c, r: r}
		clients = append(clients, cl)
		ctx, cancel := context.WithCancel(context.Background())
		cancels[i] = cancel
		wg.Add(1)
		go func() { defer wg.Done(); cl.run(ctx, i == 3) }()
	}
	defer func() {
		for _, cancel := range cancels {
			cancel()
		}
		wg.Wait()
	}()
	waitFor(t, "four consumers in one generation", func() bool { return converged(c, "g", clients) })

	cancels[3]() // leaves the group
	waitFor(t, "three consumers after one left", func() bool { return converged(c, "g", clients[:3]) })

	cancels[2]() // dies: no leave, its session expires
	waitFor(t, "two consumers after one died", func() bool { return converged(c, "g", clients[:2]) })
}
