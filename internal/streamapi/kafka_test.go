package streamapi

import (
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/loftmq/loft/internal/logstore"
)

// consume polls cl until it has n records, failing the test on an error
// or after testTimeout.
func consume(t *testing.T, cl *kgo.Client, n int) []*kgo.Record {
	t.Helper()
	ctx := testCtx(t)
	var out []*kgo.Record
	for len(out) < n {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("got %d records of %d: %v", len(out), n, err)
		}
		fs.EachError(func(topic string, p int32, err error) { t.Fatalf("fetch %s-%d: %v", topic, p, err) })
		out = append(out, fs.Records()...)
	}
	return out
}

// publishN publishes n records to one partition over HTTP, values
// "<prefix>-<i>".
func (s *stack) publishN(topic string, partition, n int, prefix string) {
	s.t.Helper()
	var recs []any
	for i := range n {
		recs = append(recs, map[string]any{"partition": partition, "key": fmt.Sprint("k", i), "value": fmt.Sprint(prefix, "-", i)})
	}
	s.must(200, "POST", "/api/v1/topics/"+topic+"/records", map[string]any{"records": recs})
}

func TestKafkaConsumerReadsPublished(t *testing.T) {
	s := newStack(t, stackOpts{kafka: true})
	s.createTopic("t", 1)
	s.must(200, "POST", "/api/v1/topics/t/records", map[string]any{"records": []any{
		map[string]any{"key": "k", "value": "v", "timestamp": 1700000000123, "headers": []any{
			map[string]any{"key": "trace", "value": "abc"}, map[string]any{"key": "empty", "value": ""}}},
		map[string]any{"key": "AAE=", "value": "AgM=", "encoding": "base64", "headers": []any{map[string]any{"key": "bin", "value": "BA=="}}},
	}})
	cl := s.client(kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{"t": {0: kgo.NewOffset().AtStart()}}))
	recs := consume(t, cl, 2)
	r := recs[0]
	if string(r.Key) != "k" || string(r.Value) != "v" || r.Offset != 0 || r.Timestamp.UnixMilli() != 1700000000123 {
		t.Errorf("record 0: key %q value %q offset %d time %v", r.Key, r.Value, r.Offset, r.Timestamp)
	}
	if len(r.Headers) != 2 || r.Headers[0].Key != "trace" || string(r.Headers[0].Value) != "abc" || r.Headers[1].Key != "empty" || len(r.Headers[1].Value) != 0 {
		t.Errorf("record 0 headers: %+v", r.Headers)
	}
	r = recs[1]
	if string(r.Key) != "\x00\x01" || string(r.Value) != "\x02\x03" || len(r.Headers) != 1 || string(r.Headers[0].Value) != "\x04" {
		t.Errorf("record 1 (base64): key %q value %q headers %+v", r.Key, r.Value, r.Headers)
	}

	// And what a Kafka producer writes reads back over HTTP.
	pr := s.client(kgo.DefaultProduceTopic("t"))
	res := pr.ProduceSync(testCtx(t), &kgo.Record{Key: []byte("from"), Value: []byte("kafka"), Headers: []kgo.RecordHeader{{Key: "h", Value: []byte("x")}}})
	if err := res.FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
	var rd readAnswer
	s.must(200, "GET", "/api/v1/topics/t/partitions/0/records?offset=2", nil).decode(t, &rd)
	if len(rd.Records) != 1 || *rd.Records[0].Key != "from" || *rd.Records[0].Value != "kafka" || *rd.Records[0].Headers[0].Value != "x" {
		t.Errorf("read back: %+v", rd)
	}
}

func TestGroups(t *testing.T) {
	s := newStack(t, stackOpts{kafka: true})
	s.createTopic("t", 2)
	s.publishN("t", 0, 5, "p0")
	s.publishN("t", 1, 5, "p1")

	cl := s.client(kgo.ConsumerGroup("g"), kgo.ConsumeTopics("t"), kgo.DisableAutoCommit(),
		kgo.ClientID("test-consumer"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	recs := consume(t, cl, 10)
	var commit []*kgo.Record
	for _, r := range recs {
		if r.Partition == 0 && r.Offset == 1 || r.Partition == 1 && r.Offset == 3 {
			commit = append(commit, r)
		}
	}
	if err := cl.CommitRecords(testCtx(t), commit...); err != nil {
		t.Fatalf("commit: %v", err)
	}

	var list []groupSummary
	s.must(200, "GET", "/api/v1/groups", nil).decode(t, &list)
	if len(list) != 1 || list[0].Name != "g" || list[0].State != "Stable" || list[0].ProtocolType != "consumer" {
		t.Fatalf("groups %+v", list)
	}
	s.must(200, "GET", "/api/v1/groups?state=empty", nil).decode(t, &list)
	if len(list) != 0 {
		t.Errorf("empty groups %+v", list)
	}

	var d groupDetail
	s.must(200, "GET", "/api/v1/groups/g", nil).decode(t, &d)
	if d.State != "Stable" || d.ProtocolType != "consumer" || d.Protocol == "" || len(d.Members) != 1 {
		t.Fatalf("group %+v", d)
	}
	m := d.Members[0]
	if m.ClientID != "test-consumer" || len(m.Assignment) != 1 || m.Assignment[0].Topic != "t" || len(m.Assignment[0].Partitions) != 2 {
		t.Errorf("member %+v", m)
	}
	want := []struct {
		p                   int32
		committed, end, lag int64
	}{{0, 2, 5, 3}, {1, 4, 5, 1}}
	if len(d.Offsets) != 2 {
		t.Fatalf("offsets %+v", d.Offsets)
	}
	for i, w := range want {
		o := d.Offsets[i]
		if o.Topic != "t" || o.Partition != w.p || *o.CommittedOffset != w.committed || *o.EndOffset != w.end || *o.Lag != w.lag || o.MemberID != m.MemberID {
			t.Errorf("offsets[%d] = %+v, want %+v", i, o, w)
		}
	}
	if d.Lag != 4 {
		t.Errorf("lag %d, want 4", d.Lag)
	}

	// Not while the consumer is in the group.
	wantError(t, s.req("POST", "/api/v1/groups/g/reset-offsets", "", map[string]any{"to": "earliest"}), 409, "conflict", "members")
	wantError(t, s.req("DELETE", "/api/v1/groups/g", "", nil), 409, "conflict", "")

	cl.Close() // leaves the group
	waitState(t, s, "g", "Empty")

	var ra resetAnswer
	s.must(200, "POST", "/api/v1/groups/g/reset-offsets", map[string]any{"to": "latest", "dry_run": true}).decode(t, &ra)
	if !ra.DryRun || len(ra.Offsets) != 2 || ra.Offsets[0].Offset != 5 || *ra.Offsets[0].PreviousOffset != 2 {
		t.Errorf("dry run %+v", ra)
	}
	s.must(200, "GET", "/api/v1/groups/g", nil).decode(t, &d)
	if *d.Offsets[0].CommittedOffset != 2 {
		t.Errorf("a dry run changed the offsets: %+v", d.Offsets)
	}

	s.must(200, "POST", "/api/v1/groups/g/reset-offsets", map[string]any{"to": "earliest"}).decode(t, &ra)
	if ra.DryRun || len(ra.Offsets) != 2 || ra.Offsets[0].Offset != 0 || ra.Offsets[1].Offset != 0 {
		t.Fatalf("reset %+v", ra)
	}
	s.must(200, "POST", "/api/v1/groups/g/reset-offsets", map[string]any{
		"to": "offset", "offset": 3, "topics": []any{map[string]any{"topic": "t", "partitions": []int{1}}}}).decode(t, &ra)
	if len(ra.Offsets) != 1 || ra.Offsets[0].Partition != 1 || ra.Offsets[0].Offset != 3 {
		t.Fatalf("reset to offset %+v", ra)
	}
	s.must(200, "GET", "/api/v1/groups/g", nil).decode(t, &d)
	if d.State != "Empty" || len(d.Members) != 0 || *d.Offsets[0].CommittedOffset != 0 || *d.Offsets[1].CommittedOffset != 3 || d.Lag != 7 {
		t.Errorf("after reset: %+v", d)
	}

	// A consumer of the group now reads from there.
	cl2 := s.client(kgo.ConsumerGroup("g"), kgo.ConsumeTopics("t"), kgo.DisableAutoCommit())
	first := map[int32]int64{0: -1, 1: -1}
	for _, r := range consume(t, cl2, 7) {
		if first[r.Partition] < 0 {
			first[r.Partition] = r.Offset
		}
	}
	if first[0] != 0 || first[1] != 3 {
		t.Errorf("the consumer started at %v, want partition 0 at 0 and 1 at 3", first)
	}
	cl2.Close()
	waitState(t, s, "g", "Empty")

	s.must(204, "DELETE", "/api/v1/groups/g", nil)
	wantError(t, s.req("GET", "/api/v1/groups/g", "", nil), 404, "not_found", "g")
	wantError(t, s.req("DELETE", "/api/v1/groups/g", "", nil), 404, "not_found", "g")
}

// waitState waits until the group is in state.
func waitState(t *testing.T, s *stack, name, state string) {
	t.Helper()
	deadline := time.Now().Add(testTimeout)
	for {
		r := s.req("GET", "/api/v1/groups/"+name, "", nil)
		if r.status == 200 && r.json(t)["state"] == state {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("group %s: %d %s, want state %s", name, r.status, r.body, state)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestResetOffsets(t *testing.T) {
	s := newStack(t, stackOpts{})
	s.createTopic("t", 2)
	s.produce("t", 0, recsAt(1000, 2000, 3000)...)
	path := "/api/v1/groups/fresh/reset-offsets"
	// A group without offsets needs its topics named; then it is made.
	wantError(t, s.req("POST", path, "", map[string]any{"to": "earliest"}), 404, "not_found", "name the topics")
	var ra resetAnswer
	s.must(200, "POST", path, map[string]any{"to": "timestamp", "timestamp": 1500, "topics": []any{map[string]any{"topic": "t"}}}).decode(t, &ra)
	if len(ra.Offsets) != 2 || ra.Offsets[0].Offset != 1 || ra.Offsets[0].PreviousOffset != nil || ra.Offsets[1].Offset != 0 {
		t.Errorf("to timestamp: %+v", ra)
	}
	s.must(200, "POST", path, map[string]any{"to": "timestamp", "timestamp": 9000}).decode(t, &ra)
	if ra.Offsets[0].Offset != 3 || *ra.Offsets[0].PreviousOffset != 1 {
		t.Errorf("to a later timestamp: %+v", ra)
	}
	// Past the end is the end; a partition named twice counts once.
	s.must(200, "POST", path, map[string]any{"to": "offset", "offset": 99, "topics": []any{
		map[string]any{"topic": "t", "partitions": []int{0, 0}}, map[string]any{"topic": "t", "partitions": []int{0}}}}).decode(t, &ra)
	if len(ra.Offsets) != 1 || ra.Offsets[0].Offset != 3 {
		t.Errorf("to offset 99: %+v", ra)
	}
	var list []groupSummary
	if r := s.req("GET", "/api/v1/groups", "mon", nil); r.status != 200 {
		t.Errorf("monitoring user: %d %s", r.status, r.body)
	}
	s.must(200, "GET", "/api/v1/groups", nil).decode(t, &list)
	if len(list) != 1 || list[0].Name != "fresh" || list[0].State != "Empty" {
		t.Errorf("groups %+v", list)
	}

	for _, tc := range []struct {
		body   any
		status int
		want   string
	}{
		{map[string]any{}, 400, "to: required"},
		{map[string]any{"to": "start"}, 400, "to:"},
		{map[string]any{"to": "timestamp"}, 400, "needs timestamp"},
		{map[string]any{"to": "offset"}, 400, "needs offset"},
		{map[string]any{"to": "offset", "offset": -1}, 400, "offset"},
		{map[string]any{"to": "earliest", "offset": 1}, 400, "neither"},
		{map[string]any{"to": "earliest", "topics": []any{map[string]any{}}}, 400, "topics[0].topic"},
		{map[string]any{"to": "earliest", "topic": "t"}, 400, "unknown field"},
		{map[string]any{"to": "earliest", "topics": []any{map[string]any{"topic": "none"}}}, 404, "none"},
		{map[string]any{"to": "earliest", "topics": []any{map[string]any{"topic": "t", "partitions": []int{2}}}}, 404, "no partition 2"},
		{"{", 400, "JSON"},
	} {
		r := s.req("POST", path, "", tc.body)
		kind := "bad_request"
		if tc.status == 404 {
			kind = "not_found"
		}
		wantError(t, r, tc.status, kind, tc.want)
	}
}

func TestTopicDeleteDropsOffsets(t *testing.T) {
	s := newStack(t, stackOpts{})
	s.createTopic("t", 1)
	s.must(200, "POST", "/api/v1/groups/g/reset-offsets", map[string]any{"to": "latest", "topics": []any{map[string]any{"topic": "t"}}})
	s.must(204, "DELETE", "/api/v1/topics/t", nil)
	wantError(t, s.req("GET", "/api/v1/groups/g", "", nil), 404, "not_found", "")
}

// recsAt makes records with the given timestamps.
func recsAt(ts ...int64) []logstore.Record {
	out := make([]logstore.Record, len(ts))
	for i, t := range ts {
		out[i] = logstore.Record{Timestamp: t, Value: []byte(fmt.Sprint(t))}
	}
	return out
}
