package kafka

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// consumeN reads n records from the start of topic's partitions.
func (s *stack) consumeN(topic string, n int, opts ...kgo.Opt) []*kgo.Record {
	s.t.Helper()
	opts = append([]kgo.Opt{
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(200 * time.Millisecond),
	}, opts...)
	cl := s.client(opts...)
	defer cl.Close()
	return pollN(s.t, cl, n)
}

// pollN polls cl until it has n records or the test times out.
func pollN(t testing.TB, cl *kgo.Client, n int) []*kgo.Record {
	t.Helper()
	ctx := testCtx(t)
	var out []*kgo.Record
	for len(out) < n {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("got %d records of %d before the timeout", len(out), n)
		}
		fs.EachError(func(topic string, p int32, err error) {
			t.Fatalf("fetch %s/%d: %v", topic, p, err)
		})
		out = append(out, fs.Records()...)
	}
	return out
}

func TestRoundTripEveryFieldAcrossRestart(t *testing.T) {
	s := startStack(t, stackOpts{})
	s.createTopic("rt", 3, nil)
	base := time.UnixMilli(1_700_000_000_000)
	var sent []*kgo.Record
	for i := range 300 {
		r := &kgo.Record{
			Topic:     "rt",
			Partition: int32(i % 3),
			Key:       []byte("key-" + strconv.Itoa(i)),
			Value:     bytes.Repeat([]byte{byte(i)}, i%50),
			Timestamp: base.Add(time.Duration(i) * time.Second),
			Headers: []kgo.RecordHeader{
				{Key: "h1", Value: []byte("v" + strconv.Itoa(i))},
				{Key: "empty", Value: nil},
			},
		}
		if i%10 == 0 {
			r.Key = nil // a null key
		}
		if i%7 == 0 {
			r.Value = nil // a null value (tombstone)
		}
		sent = append(sent, r)
	}
	codecs := []kgo.CompressionCodec{kgo.NoCompression(), kgo.GzipCompression(), kgo.SnappyCompression(), kgo.Lz4Compression(), kgo.ZstdCompression()}
	for i, codec := range codecs {
		cl := s.client(kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerBatchCompression(codec))
		if err := cl.ProduceSync(testCtx(t), sent[i*60:(i+1)*60]...).FirstErr(); err != nil {
			t.Fatalf("produce with %v: %v", codec, err)
		}
		cl.Close()
	}

	s.restart()

	got := s.consumeN("rt", len(sent))
	if len(got) != len(sent) {
		t.Fatalf("got %d records, want %d", len(got), len(sent))
	}
	byKey := func(r *kgo.Record) string {
		return fmt.Sprintf("%d/%s/%v", r.Partition, r.Headers[0].Value, r.Timestamp.UnixMilli())
	}
	want := make(map[string]*kgo.Record)
	for _, r := range sent {
		want[byKey(r)] = r
	}
	next := make(map[int32]int64)
	for _, r := range got {
		w, ok := want[byKey(r)]
		if !ok {
			t.Fatalf("unexpected record %+v", r)
		}
		delete(want, byKey(r))
		if !bytes.Equal(r.Key, w.Key) || (r.Key == nil) != (w.Key == nil) {
			t.Errorf("key %q, want %q", r.Key, w.Key)
		}
		if !bytes.Equal(r.Value, w.Value) || (r.Value == nil) != (w.Value == nil) {
			t.Errorf("value %q, want %q", r.Value, w.Value)
		}
		if !r.Timestamp.Equal(w.Timestamp) {
			t.Errorf("timestamp %v, want %v", r.Timestamp, w.Timestamp)
		}
		if len(r.Headers) != 2 || r.Headers[0].Key != "h1" || r.Headers[1].Key != "empty" ||
			!bytes.Equal(r.Headers[0].Value, w.Headers[0].Value) || len(r.Headers[1].Value) != 0 {
			t.Errorf("headers %+v, want %+v", r.Headers, w.Headers)
		}
		if r.Offset != next[r.Partition] {
			t.Errorf("partition %d: offset %d, want %d", r.Partition, r.Offset, next[r.Partition])
		}
		next[r.Partition]++
	}
}

func TestAcks(t *testing.T) {
	s := startStack(t, stackOpts{})
	s.createTopic("acks", 1, nil)
	n := 0
	for _, acks := range []kgo.Acks{kgo.NoAck(), kgo.LeaderAck(), kgo.AllISRAcks()} {
		cl := s.client(kgo.DefaultProduceTopic("acks"), kgo.RequiredAcks(acks), kgo.DisableIdempotentWrite())
		var recs []*kgo.Record
		for range 50 {
			recs = append(recs, &kgo.Record{Value: []byte(strconv.Itoa(n))})
			n++
		}
		res := cl.ProduceSync(testCtx(t), recs...)
		if err := res.FirstErr(); err != nil {
			t.Fatalf("acks %v: %v", acks, err)
		}
		cl.Close()
	}
	got := s.consumeN("acks", n)
	for i, r := range got {
		if string(r.Value) != strconv.Itoa(i) || r.Offset != int64(i) {
			t.Fatalf("record %d: offset %d value %q", i, r.Offset, r.Value)
		}
	}
}

func TestAcksZeroErrorClosesConnection(t *testing.T) {
	s := startStack(t, stackOpts{})
	s.createTopic("z", 1, nil)
	rc := s.dial()
	req := produceRequest("z", 5, testBatch(t, 0)) // partition 5 does not exist
	req.Acks = 0
	rc.send(req, 1)
	rc.expectClosed()
	s.logs.waitLog(t, "acks=0 produce failed")
}

func TestAutoCreate(t *testing.T) {
	s := startStack(t, stackOpts{defaultPartitions: 4})
	cl := s.client(kgo.AllowAutoTopicCreation(), kgo.DefaultProduceTopic("auto"))
	if err := cl.ProduceSync(testCtx(t), &kgo.Record{Value: []byte("x")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	td, err := kadm.NewClient(cl).ListTopics(testCtx(t), "auto")
	if err != nil || td["auto"].Err != nil {
		t.Fatalf("ListTopics: %v %v", err, td["auto"].Err)
	}
	if n := len(td["auto"].Partitions); n != 4 {
		t.Fatalf("auto-created with %d partitions, want 4", n)
	}
	// A client that does not allow auto-creation gets none.
	adm := s.admin()
	td, err = adm.ListTopics(testCtx(t), "not-created")
	if err != nil {
		t.Fatal(err)
	}
	if !errors.Is(td["not-created"].Err, kerr.UnknownTopicOrPartition) {
		t.Fatalf("ListTopics of a missing topic: %v", td["not-created"].Err)
	}
}

func TestAutoCreateDisabled(t *testing.T) {
	s := startStack(t, stackOpts{noAutoCreate: true})
	cl := s.client(kgo.AllowAutoTopicCreation(), kgo.DefaultProduceTopic("nope"), kgo.UnknownTopicRetries(1))
	err := cl.ProduceSync(testCtx(t), &kgo.Record{Value: []byte("x")}).FirstErr()
	if !errors.Is(err, kerr.UnknownTopicOrPartition) {
		t.Fatalf("produce to a missing topic with auto-create off: %v", err)
	}
}

func TestCreateTopicsExplicit(t *testing.T) {
	s := startStack(t, stackOpts{})
	adm := s.admin()
	ctx := testCtx(t)
	retention := "3600000"
	resp, err := adm.CreateTopic(ctx, 5, 1, map[string]*string{"retention.ms": &retention}, "ex")
	if err != nil || resp.Err != nil {
		t.Fatalf("CreateTopic: %v %v", err, resp.Err)
	}
	if resp.NumPartitions != 5 || resp.ReplicationFactor != 1 || resp.ID == (kadm.TopicID{}) {
		t.Fatalf("CreateTopic answered %+v", resp)
	}
	cases := []struct {
		name    string
		create  func() (kadm.CreateTopicResponse, error)
		wantErr error
	}{
		{"exists", func() (kadm.CreateTopicResponse, error) { return adm.CreateTopic(ctx, 1, 1, nil, "ex") }, kerr.TopicAlreadyExists},
		{"replication 3", func() (kadm.CreateTopicResponse, error) { return adm.CreateTopic(ctx, 1, 3, nil, "r3") }, kerr.InvalidReplicationFactor},
		{"bad name", func() (kadm.CreateTopicResponse, error) { return adm.CreateTopic(ctx, 1, 1, nil, "bad/name") }, kerr.InvalidTopicException},
		{"zero partitions", func() (kadm.CreateTopicResponse, error) { return adm.CreateTopic(ctx, 0, 1, nil, "zero") }, kerr.InvalidPartitions},
		{"unknown config", func() (kadm.CreateTopicResponse, error) {
			v := "1"
			return adm.CreateTopic(ctx, 1, 1, map[string]*string{"no.such.config": &v}, "cfg")
		}, kerr.InvalidConfig},
	}
	for _, c := range cases {
		resp, err := c.create()
		if err == nil {
			err = resp.Err
		}
		if !errors.Is(err, c.wantErr) {
			t.Errorf("%s: %v, want %v", c.name, err, c.wantErr)
		}
	}
	// Validate-only creates nothing.
	vresp, err := adm.ValidateCreateTopics(ctx, 2, 1, nil, "validated")
	if err != nil || vresp["validated"].Err != nil {
		t.Fatalf("ValidateCreateTopics: %v %v", err, vresp["validated"].Err)
	}
	if _, ok := s.b.Topic("validated"); ok {
		t.Fatal("validate-only created the topic")
	}
	// The config is there, with the defaults of the rest.
	rcs, err := adm.DescribeTopicConfigs(ctx, "ex")
	if err != nil {
		t.Fatal(err)
	}
	rc, err := rcs.On("ex", nil)
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]string{}
	for i := range rc.Configs {
		found[rc.Configs[i].Key] = rc.Configs[i].MaybeValue()
	}
	if found["retention.ms"] != "3600000" || found["cleanup.policy"] != "delete" {
		t.Fatalf("configs %v", found)
	}
}

func TestListOffsetsByTime(t *testing.T) {
	s := startStack(t, stackOpts{})
	s.createTopic("lo", 1, nil)
	base := time.UnixMilli(1_600_000_000_000)
	cl := s.client(kgo.DefaultProduceTopic("lo"), kgo.ProducerLinger(0))
	for i := range 100 {
		r := &kgo.Record{Value: []byte{byte(i)}, Timestamp: base.Add(time.Duration(i) * time.Minute)}
		if err := cl.ProduceSync(testCtx(t), r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	adm := kadm.NewClient(cl)
	ctx := testCtx(t)
	for _, c := range []struct {
		at   time.Time
		want int64
	}{
		{base.Add(-time.Hour), 0},
		{base, 0},
		{base.Add(30*time.Minute - time.Millisecond), 30},
		{base.Add(30 * time.Minute), 30},
		{base.Add(99 * time.Minute), 99},
		{base.Add(100 * time.Minute), -1}, // none: Kafka answers -1 (kadm: the end)
	} {
		lo, err := adm.ListOffsetsAfterMilli(ctx, c.at.UnixMilli(), "lo")
		if err != nil {
			t.Fatal(err)
		}
		o, _ := lo.Lookup("lo", 0)
		if o.Err != nil {
			t.Fatal(o.Err)
		}
		want := c.want
		if want == -1 {
			want = 100 // kadm turns "none" into the end offset
		}
		if o.Offset != want {
			t.Errorf("offset after %v = %d, want %d", c.at.Sub(base), o.Offset, want)
		}
	}
	start, err := adm.ListStartOffsets(ctx, "lo")
	if err != nil {
		t.Fatal(err)
	}
	end, err := adm.ListEndOffsets(ctx, "lo")
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := start.Lookup("lo", 0); o.Offset != 0 {
		t.Errorf("start %d", o.Offset)
	}
	if o, _ := end.Lookup("lo", 0); o.Offset != 100 {
		t.Errorf("end %d", o.Offset)
	}
	maxTS, err := adm.ListMaxTimestampOffsets(ctx, "lo")
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := maxTS.Lookup("lo", 0); o.Offset != 99 || o.Timestamp != base.Add(99*time.Minute).UnixMilli() {
		t.Errorf("max timestamp offset %d at %d", o.Offset, o.Timestamp)
	}
}

func TestOffsetOutOfRangeReset(t *testing.T) {
	s := startStack(t, stackOpts{})
	s.createTopic("oor", 1, nil)
	cl := s.client(kgo.DefaultProduceTopic("oor"))
	var recs []*kgo.Record
	for i := range 20 {
		recs = append(recs, &kgo.Record{Value: []byte(strconv.Itoa(i))})
	}
	if err := cl.ProduceSync(testCtx(t), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	adm := kadm.NewClient(cl)
	os := kadm.Offsets{}
	os.Add(kadm.Offset{Topic: "oor", Partition: 0, At: 10})
	dr, err := adm.DeleteRecords(testCtx(t), os)
	if err != nil {
		t.Fatal(err)
	}
	if r, _ := dr.Lookup("oor", 0); r.Err != nil || r.LowWatermark != 10 {
		t.Fatalf("DeleteRecords: %+v", r)
	}
	// Start below the log start: OFFSET_OUT_OF_RANGE, reset to the start.
	low := s.client(kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{
		"oor": {0: kgo.NewOffset().At(3)},
	}), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	got := pollN(t, low, 10)
	if got[0].Offset != 10 || string(got[0].Value) != "10" {
		t.Fatalf("first record after reset: offset %d value %q, want 10", got[0].Offset, got[0].Value)
	}
	// Start above the end: reset to the end, then read what comes next.
	cons := s.client(kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{
		"oor": {0: kgo.NewOffset().At(500)},
	}), kgo.ConsumeResetOffset(kgo.NewOffset().AtEnd()), kgo.FetchMaxWait(100*time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	produced := make(chan error, 1)
	go func() {
		// Keep producing until the consumer has reset and read one.
		for ctx.Err() == nil {
			if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("late")}).FirstErr(); err != nil && ctx.Err() == nil {
				produced <- err
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
		produced <- nil
	}()
	late := pollN(t, cons, 1)
	cancel()
	if err := <-produced; err != nil {
		t.Fatal(err)
	}
	if late[0].Offset < 20 || string(late[0].Value) != "late" {
		t.Fatalf("after reset to the end: offset %d value %q", late[0].Offset, late[0].Value)
	}
}

func TestCompactedTopicKeepsLatestPerKey(t *testing.T) {
	s := startStack(t, stackOpts{})
	compact, seg := "compact", "1024"
	s.createTopic("cmp", 1, map[string]*string{"cleanup.policy": &compact, "segment.bytes": &seg})
	cl := s.client(kgo.DefaultProduceTopic("cmp"), kgo.ProducerLinger(0))
	const keys, rounds = 10, 30
	for round := range rounds {
		var recs []*kgo.Record
		for k := range keys {
			recs = append(recs, &kgo.Record{Key: []byte("k" + strconv.Itoa(k)), Value: []byte(fmt.Sprintf("r%d-k%d", round, k))})
		}
		if err := cl.ProduceSync(testCtx(t), recs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	log, ok := s.store.Log("cmp-0")
	if !ok {
		t.Fatal("no log cmp-0")
	}
	if n, err := log.Compact(time.Now()); err != nil || n == 0 {
		t.Fatalf("Compact = %d, %v; want segments rewritten", n, err)
	}
	end, err := kadm.NewClient(cl).ListEndOffsets(testCtx(t), "cmp")
	if err != nil {
		t.Fatal(err)
	}
	o, _ := end.Lookup("cmp", 0)
	// Read to the end; the last value of each key must be the latest.
	cons := s.client(kgo.ConsumeTopics("cmp"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(100*time.Millisecond))
	latest := map[string]string{}
	total := 0
	ctx := testCtx(t)
	for done := false; !done; {
		fs := cons.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatal("timed out reading the compacted topic")
		}
		fs.EachRecord(func(r *kgo.Record) {
			latest[string(r.Key)] = string(r.Value)
			total++
			done = done || r.Offset == o.Offset-1
		})
	}
	for k := range keys {
		if want := fmt.Sprintf("r%d-k%d", rounds-1, k); latest["k"+strconv.Itoa(k)] != want {
			t.Errorf("key k%d: %q, want %q", k, latest["k"+strconv.Itoa(k)], want)
		}
	}
	if total >= keys*rounds {
		t.Errorf("read %d records: compaction removed nothing", total)
	}
}

func TestDeleteTopicDropsOffsets(t *testing.T) {
	s := startStack(t, stackOpts{})
	s.createTopic("del", 2, nil)
	adm := s.admin()
	ctx := testCtx(t)
	os := kadm.Offsets{}
	os.Add(kadm.Offset{Topic: "del", Partition: 1, At: 0, LeaderEpoch: -1})
	if _, err := adm.CommitOffsets(ctx, "g", os); err != nil {
		t.Fatal(err)
	}
	resp, err := adm.DeleteTopics(ctx, "del", "missing")
	if err != nil {
		t.Fatal(err)
	}
	if resp["del"].Err != nil || !errors.Is(resp["missing"].Err, kerr.UnknownTopicOrPartition) {
		t.Fatalf("DeleteTopics: %v / %v", resp["del"].Err, resp["missing"].Err)
	}
	if _, ok := s.b.Topic("del"); ok {
		t.Fatal("topic still there")
	}
	fetched, err := adm.FetchOffsets(ctx, "g")
	if err != nil {
		t.Fatal(err)
	}
	if len(fetched) != 0 {
		t.Fatalf("offsets of a deleted topic remain: %v", fetched)
	}
}

func TestConfigsAlterAndDescribe(t *testing.T) {
	s := startStack(t, stackOpts{})
	s.createTopic("cfg", 1, nil)
	adm := s.admin()
	ctx := testCtx(t)
	ret, policy := "1000", "compact"
	if _, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{
		{Op: kadm.SetConfig, Name: "retention.ms", Value: &ret},
		{Op: kadm.AppendConfig, Name: "cleanup.policy", Value: &policy},
	}, "cfg"); err != nil {
		t.Fatal(err)
	}
	get := func() map[string]*kadm.Config {
		rcs, err := adm.DescribeTopicConfigs(ctx, "cfg")
		if err != nil {
			t.Fatal(err)
		}
		rc, err := rcs.On("cfg", nil)
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]*kadm.Config{}
		for i := range rc.Configs {
			m[rc.Configs[i].Key] = &rc.Configs[i]
		}
		return m
	}
	c := get()
	if c["retention.ms"].MaybeValue() != "1000" || c["retention.ms"].Source != 1 {
		t.Errorf("retention.ms %+v", c["retention.ms"])
	}
	if v := c["cleanup.policy"].MaybeValue(); v != "delete,compact" {
		t.Errorf("cleanup.policy %q", v)
	}
	// AlterConfigs (non-incremental) resets what it does not name.
	seg := "2048"
	if _, err := adm.AlterTopicConfigsState(ctx, []kadm.AlterConfig{{Name: "segment.bytes", Value: &seg}}, "cfg"); err != nil {
		t.Fatal(err)
	}
	c = get()
	if c["retention.ms"].MaybeValue() != "604800000" || c["segment.bytes"].MaybeValue() != "2048" {
		t.Errorf("after AlterConfigs: retention.ms %q segment.bytes %q", c["retention.ms"].MaybeValue(), c["segment.bytes"].MaybeValue())
	}
	// Bad values, and broker configs, are refused.
	bad := "nope"
	resp, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Name: "retention.ms", Value: &bad}}, "cfg")
	if err != nil || len(resp) != 1 || !errors.Is(resp[0].Err, kerr.InvalidConfig) {
		t.Errorf("bad value: %v %+v", err, resp)
	}
	bresp, err := adm.AlterBrokerConfigs(ctx, []kadm.AlterConfig{{Name: "log.retention.ms", Value: &ret}}, 0)
	if err != nil || len(bresp) != 1 || !errors.Is(bresp[0].Err, kerr.InvalidRequest) {
		t.Errorf("broker config: %v %+v", err, bresp)
	}
	brcs, err := adm.DescribeBrokerConfigs(ctx, 0)
	if err != nil || len(brcs) != 1 || brcs[0].Err != nil || len(brcs[0].Configs) == 0 {
		t.Fatalf("DescribeBrokerConfigs: %v %+v", err, brcs)
	}
	if !slices.ContainsFunc(brcs[0].Configs, func(c kadm.Config) bool { return c.Key == "auto.create.topics.enable" }) {
		t.Errorf("broker configs %+v", brcs[0].Configs)
	}
}

func TestCreatePartitions(t *testing.T) {
	s := startStack(t, stackOpts{})
	s.createTopic("cp", 2, nil)
	adm := s.admin()
	ctx := testCtx(t)
	resp, err := adm.UpdatePartitions(ctx, 5, "cp")
	if err != nil || resp["cp"].Err != nil {
		t.Fatalf("UpdatePartitions: %v %v", err, resp["cp"].Err)
	}
	resp, err = adm.UpdatePartitions(ctx, 3, "cp")
	if err != nil || !errors.Is(resp["cp"].Err, kerr.InvalidPartitions) {
		t.Fatalf("shrink: %v %v", err, resp["cp"].Err)
	}
	td, err := adm.ListTopics(ctx, "cp")
	if err != nil || len(td["cp"].Partitions) != 5 {
		t.Fatalf("ListTopics: %v %+v", err, td["cp"])
	}
}

func TestDescribeCluster(t *testing.T) {
	s := startStack(t, stackOpts{})
	adm := s.admin()
	meta, err := adm.BrokerMetadata(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	if meta.Cluster == "" || meta.Controller != 0 || len(meta.Brokers) != 1 || meta.Brokers[0].NodeID != 0 {
		t.Fatalf("metadata %+v", meta)
	}
	host := fmt.Sprintf("%s:%d", meta.Brokers[0].Host, meta.Brokers[0].Port)
	if host != s.addr {
		t.Fatalf("advertised %s, want %s", host, s.addr)
	}
	id := meta.Cluster
	s.restart()
	meta, err = s.admin().BrokerMetadata(testCtx(t))
	if err != nil || meta.Cluster != id {
		t.Fatalf("cluster id after restart %q (%v), want %q", meta.Cluster, err, id)
	}
}

func TestProduceErrors(t *testing.T) {
	s := startStack(t, stackOpts{})
	s.createTopic("pe", 1, nil)
	small := "120"
	s.createTopic("small", 1, map[string]*string{"max.message.bytes": &small})
	two := append(testBatch(t, 1), testBatch(t, 2)...)
	badCRC := testBatch(t, 3)
	badCRC[len(badCRC)-1] ^= 0xff
	big := bigBatch(t, 200)
	tests := []struct {
		name    string
		req     func() *kmsg.ProduceRequest
		want    *kerr.Error
		wantOff int64
	}{
		{"two batches in one field", func() *kmsg.ProduceRequest { return produceRequest("pe", 0, two) }, nil, 0},
		{"then one more", func() *kmsg.ProduceRequest { return produceRequest("pe", 0, testBatch(t, 4)) }, nil, 2},
		{"bad crc", func() *kmsg.ProduceRequest { return produceRequest("pe", 0, badCRC) }, kerr.CorruptMessage, -1},
		{"trailing bytes", func() *kmsg.ProduceRequest { return produceRequest("pe", 0, append(testBatch(t, 5), 1, 2, 3)) }, kerr.CorruptMessage, -1},
		{"no batch", func() *kmsg.ProduceRequest { return produceRequest("pe", 0, nil) }, kerr.CorruptMessage, -1},
		{"unknown partition", func() *kmsg.ProduceRequest { return produceRequest("pe", 7, testBatch(t, 6)) }, kerr.UnknownTopicOrPartition, -1},
		{"unknown topic", func() *kmsg.ProduceRequest { return produceRequest("nope", 0, testBatch(t, 6)) }, kerr.UnknownTopicOrPartition, -1},
		{"unknown topic id", func() *kmsg.ProduceRequest {
			r := produceRequest("", 0, testBatch(t, 6))
			r.Version, r.Topics[0].TopicID = 13, [16]byte{1}
			return r
		}, kerr.UnknownTopicID, -1},
		{"bad acks", func() *kmsg.ProduceRequest {
			r := produceRequest("pe", 0, testBatch(t, 6))
			r.Acks = 2
			return r
		}, kerr.InvalidRequiredAcks, -1},
		{"too large", func() *kmsg.ProduceRequest { return produceRequest("small", 0, big) }, kerr.MessageTooLarge, -1},
	}
	rc := s.dial()
	for i, tt := range tests {
		req := tt.req()
		rc.send(req, int32(i))
		resp := rc.read(req, int32(i)).(*kmsg.ProduceResponse)
		p := resp.Topics[0].Partitions[0]
		if err := kerr.ErrorForCode(p.ErrorCode); !errors.Is(err, tt.want) && (tt.want != nil || err != nil) {
			t.Errorf("%s: error %v, want %v", tt.name, err, tt.want)
		}
		if p.BaseOffset != tt.wantOff {
			t.Errorf("%s: base offset %d, want %d", tt.name, p.BaseOffset, tt.wantOff)
		}
		if tt.want != nil && (p.ErrorMessage == nil || *p.ErrorMessage == "") {
			t.Errorf("%s: no error message", tt.name)
		}
	}
	tp, _ := s.b.Topic("pe")
	p, _ := tp.Partition(0)
	if hw := p.HighWatermark(); hw != 3 {
		t.Fatalf("high watermark %d, want 3", hw)
	}
}

// bigBatch is a one-record batch of about size bytes.
func bigBatch(t *testing.T, size int) []byte {
	t.Helper()
	b := testBatch(t, 0)
	var rb kmsg.RecordBatch
	if err := rb.ReadFrom(b); err != nil {
		t.Fatal(err)
	}
	rec := kmsg.Record{Value: bytes.Repeat([]byte{'x'}, size)}
	body := rec.AppendTo(nil)[1:]
	rb.Records = append(binary.AppendVarint(nil, int64(len(body))), body...)
	rb.Length = int32(len(rb.AppendTo(nil)) - 12)
	raw := rb.AppendTo(nil)
	rb.CRC = int32(crc32.Checksum(raw[21:], crc32.MakeTable(crc32.Castagnoli)))
	return rb.AppendTo(nil)
}
