package kafka

import (
	"context"
	"encoding/binary"
	"errors"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	"io"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// groupOpts are the consumer-group settings of the tests: short timeouts,
// so that a killed member is noticed in a test's time.
func groupOpts(group, topic string) []kgo.Opt {
	return []kgo.Opt{
		kgo.ConsumerGroup(group),
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.SessionTimeout(1500 * time.Millisecond),
		kgo.HeartbeatInterval(100 * time.Millisecond),
		kgo.RebalanceTimeout(5 * time.Second),
		kgo.FetchMaxWait(100 * time.Millisecond),
		kgo.AutoCommitInterval(100 * time.Millisecond),
	}
}

// seen collects the values consumed by several consumers.
type seen struct {
	mu     sync.Mutex
	counts map[string]int
	parts  map[string]map[int32]bool // per consumer, partitions read from
	change chan struct{}             // signalled on every new record
}

func newSeen() *seen {
	return &seen{counts: map[string]int{}, parts: map[string]map[int32]bool{}, change: make(chan struct{}, 1)}
}

func (s *seen) add(consumer string, r *kgo.Record) {
	s.mu.Lock()
	s.counts[string(r.Value)]++
	if s.parts[consumer] == nil {
		s.parts[consumer] = map[int32]bool{}
	}
	s.parts[consumer][r.Partition] = true
	s.mu.Unlock()
	select {
	case s.change <- struct{}{}:
	default:
	}
}

// waitAll waits until every one of values has been consumed.
func (s *seen) waitAll(t *testing.T, values []string) {
	t.Helper()
	deadline := time.After(testTimeout)
	for {
		s.mu.Lock()
		missing := 0
		for _, v := range values {
			if s.counts[v] == 0 {
				missing++
			}
		}
		s.mu.Unlock()
		if missing == 0 {
			return
		}
		select {
		case <-s.change:
		case <-time.After(100 * time.Millisecond):
		case <-deadline:
			t.Fatalf("%d of %d records never consumed", missing, len(values))
		}
	}
}

// consume polls cl into seen until ctx ends.
func consume(ctx context.Context, name string, cl *kgo.Client, into *seen, wg *sync.WaitGroup) {
	wg.Add(1)
	go func() {
		defer wg.Done()
		for ctx.Err() == nil {
			fs := cl.PollFetches(ctx)
			fs.EachRecord(func(r *kgo.Record) { into.add(name, r) })
		}
	}()
}

// produceValues produces n records named prefix-i, spread by round robin.
func produceValues(t *testing.T, cl *kgo.Client, prefix string, n int) []string {
	t.Helper()
	var recs []*kgo.Record
	var values []string
	for i := range n {
		v := prefix + "-" + strconv.Itoa(i)
		values = append(values, v)
		recs = append(recs, &kgo.Record{Value: []byte(v)})
	}
	if err := cl.ProduceSync(testCtx(t), recs...).FirstErr(); err != nil {
		t.Fatalf("produce %s: %v", prefix, err)
	}
	return values
}

// killableDialer dials normally until killed; then it closes every
// connection it made and refuses new ones, as a crashed process would
// vanish from the network.
type killableDialer struct {
	mu     sync.Mutex
	conns  []net.Conn
	killed bool
}

func (d *killableDialer) dial(ctx context.Context, network, host string) (net.Conn, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.killed {
		return nil, errors.New("killed")
	}
	c, err := (&net.Dialer{}).DialContext(ctx, network, host)
	if err == nil {
		d.conns = append(d.conns, c)
	}
	return c, err
}

func (d *killableDialer) kill() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.killed = true
	for _, c := range d.conns {
		c.Close()
	}
}

func TestGroupOfThreeMemberLeavesAndOneIsKilled(t *testing.T) {
	s := startStack(t, stackOpts{})
	s.createTopic("grp", 6, nil)
	prod := s.client(kgo.DefaultProduceTopic("grp"), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	got := newSeen()

	c1 := s.client(groupOpts("g3", "grp")...)
	c2, err := kgo.NewClient(append(groupOpts("g3", "grp"), kgo.SeedBrokers(s.addr))...)
	if err != nil {
		t.Fatal(err)
	}
	dialer := &killableDialer{}
	c3, err := kgo.NewClient(append(groupOpts("g3", "grp"), kgo.SeedBrokers(s.addr),
		kgo.Dialer(dialer.dial), kgo.RetryTimeout(time.Second), kgo.RequestRetries(1))...)
	if err != nil {
		t.Fatal(err)
	}
	consume(ctx, "c1", c1, got, &wg)
	c2ctx, c2cancel := context.WithCancel(ctx)
	consume(c2ctx, "c2", c2, got, &wg)
	c3ctx, c3cancel := context.WithCancel(ctx)
	consume(c3ctx, "c3", c3, got, &wg)

	all := produceValues(t, prod, "a", 600)
	got.waitAll(t, all)

	// c2 leaves cleanly: LeaveGroup, then a rebalance.
	c2cancel()
	c2.Close()
	b := produceValues(t, prod, "b", 600)
	all = append(all, b...)
	got.waitAll(t, all)

	// c3 dies without leaving: its session times out, then a rebalance
	// gives every partition to c1.
	c3cancel()
	dialer.kill()
	closed := make(chan struct{})
	go func() { c3.Close(); close(closed) }() // its LeaveGroup cannot get out
	c := produceValues(t, prod, "c", 600)
	all = append(all, c...)
	got.waitAll(t, all)

	got.mu.Lock()
	c1parts := len(got.parts["c1"])
	got.mu.Unlock()
	if c1parts != 6 {
		t.Errorf("c1 read from %d partitions, want all 6 after the others went", c1parts)
	}
	d, err := kadm.NewClient(prod).DescribeGroups(testCtx(t), "g3")
	if err != nil {
		t.Fatal(err)
	}
	if g := d["g3"]; g.State != "Stable" || len(g.Members) != 1 {
		t.Errorf("group %s with %d members, want Stable with 1", g.State, len(g.Members))
	}
	select {
	case <-closed:
	case <-time.After(testTimeout):
		t.Error("the killed client's Close did not return")
	}
}

func TestCommittedOffsetsResumeAfterRestart(t *testing.T) {
	s := startStack(t, stackOpts{})
	s.createTopic("res", 2, nil)
	prod := s.client(kgo.DefaultProduceTopic("res"), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
	first := produceValues(t, prod, "old", 100)

	opts := append(groupOpts("rg", "res"), kgo.DisableAutoCommit())
	c1 := s.client(opts...)
	recs := pollN(t, c1, len(first))
	if err := c1.CommitRecords(testCtx(t), recs...); err != nil {
		t.Fatal(err)
	}
	c1.Close()

	s.restart()

	prod = s.client(kgo.DefaultProduceTopic("res"), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
	second := produceValues(t, prod, "new", 50)
	c2 := s.client(opts...)
	got := pollN(t, c2, len(second))
	for _, r := range got {
		if string(r.Value[:3]) != "new" {
			t.Fatalf("read %q at %d/%d: the committed offsets were not resumed", r.Value, r.Partition, r.Offset)
		}
	}
	fetched, err := kadm.NewClient(prod).FetchOffsets(testCtx(t), "rg")
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	fetched.Each(func(o kadm.OffsetResponse) { total += o.At })
	if total != 100 {
		t.Fatalf("committed offsets sum to %d, want 100", total)
	}
}

func TestGroupAdmin(t *testing.T) {
	s := startStack(t, stackOpts{})
	s.createTopic("adm", 3, nil)
	adm := s.admin()
	ctx := testCtx(t)
	os := kadm.Offsets{}
	for p := range int32(3) {
		os.Add(kadm.Offset{Topic: "adm", Partition: p, At: int64(p) + 5, LeaderEpoch: -1, Metadata: "m"})
	}
	os.Add(kadm.Offset{Topic: "nosuch", Partition: 0, At: 1, LeaderEpoch: -1})
	resp, err := adm.CommitOffsets(ctx, "ga", os)
	if err != nil {
		t.Fatal(err)
	}
	if r, _ := resp.Lookup("adm", 2); r.Err != nil {
		t.Fatalf("commit adm/2: %v", r.Err)
	}
	if r, _ := resp.Lookup("nosuch", 0); r.Err == nil {
		t.Fatal("commit to a missing topic succeeded")
	}
	fetched, err := adm.FetchOffsets(ctx, "ga")
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := fetched.Lookup("adm", 2); o.At != 7 || o.Metadata != "m" {
		t.Fatalf("fetched %+v", o)
	}
	if _, err := adm.ListGroups(ctx); err != nil {
		t.Fatalf("ListGroups: %v", err)
	}
	dresp, err := adm.DeleteOffsets(ctx, "ga", kadm.TopicsSet{"adm": {0: {}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := dresp.Error(); err != nil {
		t.Fatalf("DeleteOffsets: %v", err)
	}
	fetched, err = adm.FetchOffsets(ctx, "ga")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := fetched.Lookup("adm", 0); ok {
		t.Fatal("deleted offset still fetched")
	}
	gresp, err := adm.DeleteGroups(ctx, "ga")
	if err != nil || gresp.Error() != nil {
		t.Fatalf("DeleteGroups: %v %v", err, gresp.Error())
	}
	fetched, err = adm.FetchOffsets(ctx, "ga")
	if err != nil || len(fetched) != 0 {
		t.Fatalf("offsets after DeleteGroups: %v %v", fetched, err)
	}
}

// cutProxy forwards Kafka connections to a server and, while armed, cuts
// a connection right after the server answered a Produce request, so the
// client never sees the answer of a batch the broker stored: the client
// must retry it, and only idempotence keeps the retry from being stored
// twice.
type cutProxy struct {
	t      *testing.T
	ln     net.Listener
	target string

	mu    sync.Mutex
	armed int // cuts still to make
	cuts  int // cuts made
}

func newCutProxy(t *testing.T) *cutProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{t: t, ln: ln}
	t.Cleanup(func() { ln.Close() })
	return p
}

func (p *cutProxy) serve(target string) {
	p.target = target
	go func() {
		for {
			c, err := p.ln.Accept()
			if err != nil {
				return
			}
			go p.pipe(c)
		}
	}()
}

func (p *cutProxy) arm(n int) {
	p.mu.Lock()
	p.armed += n
	p.mu.Unlock()
}

func (p *cutProxy) pipe(client net.Conn) {
	server, err := net.Dial("tcp", p.target)
	if err != nil {
		client.Close()
		return
	}
	defer client.Close()
	defer server.Close()
	var mu sync.Mutex
	keys := map[int32]int16{} // correlation id to api key, of this connection
	answered := 0             // Produce answers passed on this connection
	go func() {
		defer server.Close()
		for {
			f, err := readRawFrame(client)
			if err != nil {
				return
			}
			if len(f) >= 8 {
				mu.Lock()
				keys[int32(be32(f[4:]))] = int16(be16(f[0:]))
				mu.Unlock()
			}
			if _, err := server.Write(frameOf(f)); err != nil {
				return
			}
		}
	}()
	for {
		f, err := readRawFrame(server)
		if err != nil || len(f) < 4 {
			return
		}
		mu.Lock()
		key := keys[int32(be32(f))]
		mu.Unlock()
		if key == 0 { // Produce
			// Only a connection that has answered before is cut: kgo
			// backs off for seconds from a broker that closes a
			// connection before its first answer (it suspects SASL).
			p.mu.Lock()
			cut := p.armed > 0 && answered > 0
			answered++
			if cut {
				p.armed--
				p.cuts++
			}
			p.mu.Unlock()
			if cut {
				return // the answer is lost with the connection
			}
		}
		if _, err := client.Write(frameOf(f)); err != nil {
			return
		}
	}
}

func readRawFrame(c net.Conn) ([]byte, error) {
	var sz [4]byte
	if _, err := readFull(c, sz[:]); err != nil {
		return nil, err
	}
	f := make([]byte, be32(sz[:]))
	_, err := readFull(c, f)
	return f, err
}

func TestIdempotentProducerRetriesAfterCutsStoreNoDuplicates(t *testing.T) {
	proxy := newCutProxy(t)
	s := startStack(t, stackOpts{advertised: proxy.ln.Addr().String()})
	proxy.serve(s.addr)
	s.createTopic("idem", 3, nil)

	prod := s.client(kgo.SeedBrokers(proxy.ln.Addr().String()), kgo.DefaultProduceTopic("idem"),
		kgo.ProducerLinger(time.Millisecond), kgo.MetadataMinAge(50*time.Millisecond),
		kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
	// A first record gets the producer its id before the cuts begin.
	if err := prod.ProduceSync(testCtx(t), &kgo.Record{Value: []byte("0")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	const n = 5000
	var wg sync.WaitGroup
	var errMu sync.Mutex
	var errs []error
	for i := 1; i < n; i++ {
		if i%500 == 250 {
			proxy.arm(1)
		}
		if i%1000 == 750 {
			s.srv.CloseConnections() // and from the server side too
		}
		wg.Add(1)
		prod.Produce(context.Background(), &kgo.Record{Value: []byte(strconv.Itoa(i))}, func(_ *kgo.Record, err error) {
			defer wg.Done()
			if err != nil {
				errMu.Lock()
				errs = append(errs, err)
				errMu.Unlock()
			}
		})
		if i%100 == 0 {
			time.Sleep(time.Millisecond) // spread the records over many requests
		}
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(testTimeout):
		t.Fatal("produces did not complete")
	}
	if len(errs) > 0 {
		t.Fatalf("%d produces failed, first: %v", len(errs), errs[0])
	}
	proxy.mu.Lock()
	cuts := proxy.cuts
	proxy.mu.Unlock()
	if cuts == 0 {
		t.Fatal("no Produce answer was cut: the test proved nothing")
	}

	got := s.consumeN("idem", n)
	count := map[string]int{}
	last := map[int32]int{}
	for _, r := range got {
		count[string(r.Value)]++
		v, _ := strconv.Atoi(string(r.Value))
		if prev, ok := last[r.Partition]; ok && v <= prev {
			t.Errorf("partition %d: %d after %d", r.Partition, v, prev)
		}
		last[r.Partition] = v
	}
	for i := range n {
		if c := count[strconv.Itoa(i)]; c != 1 {
			t.Errorf("record %d stored %d times", i, c)
		}
	}
	t.Logf("%d answers cut", cuts)
	// Nothing beyond n either.
	end, err := kadm.NewClient(prod).ListEndOffsets(testCtx(t), "idem")
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	end.Each(func(o kadm.ListedOffset) { total += o.Offset })
	if total != n {
		t.Fatalf("%d records stored, want %d", total, n)
	}
}

func be32(b []byte) uint32 { return binary.BigEndian.Uint32(b) }
func be16(b []byte) uint16 { return binary.BigEndian.Uint16(b) }

func readFull(c net.Conn, b []byte) (int, error) { return io.ReadFull(c, b) }

// frameOf prefixes f with its size.
func frameOf(f []byte) []byte {
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(f))), f...)
}

// TestLeaveGroupV0ReportsUnknownMember: v0-2 carry one error code, which
// must say when the member is unknown.
func TestLeaveGroupV0ReportsUnknownMember(t *testing.T) {
	s := startStack(t, stackOpts{})
	rc := s.dial()
	for v := int16(0); v <= 2; v++ {
		req := kmsg.NewPtrLeaveGroupRequest()
		req.Version, req.Group, req.MemberID = v, "no-such-group", "nobody"
		rc.send(req, int32(v))
		resp := rc.read(req, int32(v)).(*kmsg.LeaveGroupResponse)
		if resp.ErrorCode != kerr.UnknownMemberID.Code {
			t.Errorf("LeaveGroup v%d for an unknown member: error %d, want UNKNOWN_MEMBER_ID", v, resp.ErrorCode)
		}
	}
}
