package broker

import (
	"errors"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/loftmq/loft/internal/fs"
	"github.com/loftmq/loft/internal/fs/faultfs"
	"github.com/loftmq/loft/internal/logstore"
)

func TestCreateTopic(t *testing.T) {
	e := openEnv(t, fs.NewMem(), nil)
	tp := e.create(t, "orders", 3, map[string]string{RetentionMs: "1000", CleanupPolicy: "compact,delete"})
	if tp.Name() != "orders" || tp.NumPartitions() != 3 || len(tp.Partitions()) != 3 {
		t.Fatalf("topic %s has %d partitions", tp.Name(), len(tp.Partitions()))
	}
	if tp.ID() == ([16]byte{}) || tp.ID()[6]>>4 != 4 {
		t.Fatalf("id %x is not a version 4 UUID", tp.ID())
	}
	if got, ok := e.b.TopicByID(tp.ID()); !ok || got != tp {
		t.Fatal("TopicByID does not find the topic")
	}
	for i, p := range tp.Partitions() {
		if p.Index() != int32(i) || p.Topic() != "orders" || p.HighWatermark() != 0 || p.LogStartOffset() != 0 {
			t.Fatalf("partition %d: index %d topic %s hw %d", i, p.Index(), p.Topic(), p.HighWatermark())
		}
		l, ok := e.ls.Log(logName("orders", int32(i)))
		if !ok {
			t.Fatalf("log of partition %d missing", i)
		}
		if c := l.Config(); c.RetentionAge.Milliseconds() != 1000 || !c.Compact || !c.Delete {
			t.Fatalf("log config %+v", c)
		}
	}
	if _, ok := tp.Partition(3); ok {
		t.Fatal("partition 3 exists")
	}

	// Default partitions.
	tp2 := e.create(t, "auto", -1, nil)
	if tp2.NumPartitions() != 1 {
		t.Fatalf("default partitions: %d", tp2.NumPartitions())
	}
	var names []string
	for _, x := range e.b.Topics() {
		names = append(names, x.Name())
	}
	if !slices.Equal(names, []string{"auto", "orders"}) {
		t.Fatalf("Topics = %v", names)
	}

	_, err := e.b.CreateTopic(ctx, TopicSpec{Name: "orders", Partitions: 1}, false)
	wantErr(t, "create existing", err, ErrTopicExists)
}

func TestCreateTopicValidation(t *testing.T) {
	e := openEnv(t, fs.NewMem(), nil)
	e.create(t, "a.b", 1, nil)
	tests := []struct {
		spec TopicSpec
		want error
		msg  string
	}{
		{TopicSpec{Name: "", Partitions: 1}, ErrInvalidTopic, "empty"},
		{TopicSpec{Name: strings.Repeat("x", 250), Partitions: 1}, ErrInvalidTopic, "at most 249"},
		{TopicSpec{Name: ".", Partitions: 1}, ErrInvalidTopic, "not allowed"},
		{TopicSpec{Name: "..", Partitions: 1}, ErrInvalidTopic, "not allowed"},
		{TopicSpec{Name: "a b", Partitions: 1}, ErrInvalidTopic, "only ASCII"},
		{TopicSpec{Name: "naïve", Partitions: 1}, ErrInvalidTopic, "only ASCII"},
		{TopicSpec{Name: "__meta", Partitions: 1}, ErrInvalidTopic, "reserved"},
		{TopicSpec{Name: "__consumer_offsets", Partitions: 1}, ErrInvalidTopic, "reserved"},
		{TopicSpec{Name: "a_b", Partitions: 1}, ErrInvalidTopic, "collides"},
		{TopicSpec{Name: "t", Partitions: 0}, ErrInvalidPartitions, ""},
		{TopicSpec{Name: "t", Partitions: -2}, ErrInvalidPartitions, ""},
		{TopicSpec{Name: "t", Partitions: maxPartitions + 1}, ErrInvalidPartitions, ""},
		{TopicSpec{Name: "t", Partitions: 1, Configs: map[string]string{"no.such.config": "1"}}, ErrInvalidConfig, "unknown"},
		{TopicSpec{Name: "t", Partitions: 1, Configs: map[string]string{SegmentBytes: "100"}}, ErrInvalidConfig, "minimum"},
		{TopicSpec{Name: "t", Partitions: 1, Configs: map[string]string{SegmentBytes: "4294967296"}}, ErrInvalidConfig, "segment.bytes"},
		{TopicSpec{Name: "t", Partitions: 1, Configs: map[string]string{RetentionMs: "-2"}}, ErrInvalidConfig, "minimum"},
		{TopicSpec{Name: "t", Partitions: 1, Configs: map[string]string{RetentionMs: "soon"}}, ErrInvalidConfig, "not a number"},
		{TopicSpec{Name: "t", Partitions: 1, Configs: map[string]string{CleanupPolicy: "keep"}}, ErrInvalidConfig, "cleanup.policy"},
		{TopicSpec{Name: "t", Partitions: 1, Configs: map[string]string{CleanupPolicy: ""}}, ErrInvalidConfig, "cleanup.policy"},
		{TopicSpec{Name: "t", Partitions: 1, Configs: map[string]string{MessageTimestampType: "Now"}}, ErrInvalidConfig, "message.timestamp.type"},
		{TopicSpec{Name: "t", Partitions: 1, Configs: map[string]string{MaxMessageBytes: "-1"}}, ErrInvalidConfig, "max.message.bytes"},
		{TopicSpec{Name: "t", Partitions: 1, Configs: map[string]string{SegmentMs: "0"}}, ErrInvalidConfig, "segment.ms"},
	}
	for _, tc := range tests {
		_, err := e.b.CreateTopic(ctx, tc.spec, false)
		if err == nil || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("create %q %v: err = %v, want one mentioning %q", tc.spec.Name, tc.spec.Configs, err, tc.msg)
		}
		wantErr(t, "create "+tc.spec.Name, err, tc.want)
	}
	// A name of 249 characters with the largest partition index fits the
	// log engine's names.
	long := strings.Repeat("y", 249)
	if _, err := e.b.CreateTopic(ctx, TopicSpec{Name: long, Partitions: 1}, false); err != nil {
		t.Fatal(err)
	}
	if _, err := e.b.CreateTopic(ctx, TopicSpec{Name: "t", Partitions: 1}, true); err != nil {
		t.Fatal(err)
	}
	if _, ok := e.b.Topic("t"); ok {
		t.Fatal("validate-only created the topic")
	}
	if len(e.ls.Logs()) != 3 { // __meta, a.b-0, yyy-0
		t.Fatalf("logs %v", e.ls.Logs())
	}
}

func TestValidateOnlyCreate(t *testing.T) {
	e := openEnv(t, fs.NewMem(), nil)
	tp, err := e.b.CreateTopic(ctx, TopicSpec{Name: "v", Partitions: 4, Configs: map[string]string{RetentionMs: "5"}}, true)
	if err != nil {
		t.Fatal(err)
	}
	if tp.NumPartitions() != 4 || len(tp.Partitions()) != 0 {
		t.Fatalf("validate-only topic: %d partitions, %d partition objects", tp.NumPartitions(), len(tp.Partitions()))
	}
	if c, _ := configValue(tp.Configs(), RetentionMs); c.Value != "5" || c.Default {
		t.Fatalf("config %+v", c)
	}
	if len(e.ls.Logs()) != 1 {
		t.Fatalf("logs %v", e.ls.Logs())
	}
}

func TestConfigs(t *testing.T) {
	e := openEnv(t, fs.NewMem(), nil)
	tp := e.create(t, "c", 2, map[string]string{RetentionMs: "60000"})
	entries := tp.Configs()
	if len(entries) != len(configDefs) {
		t.Fatalf("%d entries, want %d", len(entries), len(configDefs))
	}
	want := map[string]string{
		CleanupPolicy: "delete", DeleteRetentionMs: "86400000", MaxMessageBytes: "1048588",
		MessageTimestampType: "CreateTime", MinCompactionLagMs: "0", RetentionBytes: "-1",
		RetentionMs: "60000", SegmentBytes: "1073741824", SegmentMs: "604800000",
	}
	for _, c := range entries {
		if c.Value != want[c.Name] || c.Default != (c.Name != RetentionMs) || c.ReadOnly {
			t.Errorf("%+v, want value %s", c, want[c.Name])
		}
	}

	logCfg := func() logstore.Config {
		l, _ := e.ls.Log("c-1")
		return l.Config()
	}
	ops := []ConfigOp{
		{Name: RetentionMs, Op: ConfigDelete},
		{Name: SegmentBytes, Value: "2048", Op: ConfigSet},
		{Name: CleanupPolicy, Value: "compact", Op: ConfigAppend},
	}
	if err := e.b.AlterTopicConfigs(ctx, "c", ops, true); err != nil {
		t.Fatal(err)
	}
	if c, _ := configValue(tp.Configs(), SegmentBytes); !c.Default {
		t.Fatal("validate-only alter changed the config")
	}
	if err := e.b.AlterTopicConfigs(ctx, "c", ops, false); err != nil {
		t.Fatal(err)
	}
	if c, _ := configValue(tp.Configs(), RetentionMs); !c.Default || c.Value != "604800000" {
		t.Fatalf("after delete: %+v", c)
	}
	if c, _ := configValue(tp.Configs(), CleanupPolicy); c.Default || c.Value != "delete,compact" {
		t.Fatalf("after append: %+v", c)
	}
	if c := logCfg(); c.SegmentBytes != 2048 || !c.Compact || !c.Delete || c.RetentionAge.Hours() != 168 {
		t.Fatalf("log config %+v", c)
	}
	if err := e.b.AlterTopicConfigs(ctx, "c", []ConfigOp{{Name: CleanupPolicy, Value: "delete", Op: ConfigSubtract}}, false); err != nil {
		t.Fatal(err)
	}
	if c := logCfg(); !c.Compact || c.Delete {
		t.Fatalf("after subtract: %+v", c)
	}

	// Errors change nothing, all ops or none.
	bad := [][]ConfigOp{
		{{Name: RetentionMs, Value: "1", Op: ConfigSet}, {Name: "nope", Value: "1", Op: ConfigSet}},
		{{Name: RetentionMs, Value: "1", Op: ConfigAppend}},
		{{Name: CleanupPolicy, Value: "compact", Op: ConfigSubtract}}, // would leave no policy
		{{Name: SegmentBytes, Value: "1023", Op: ConfigSet}},
		{{Name: RetentionMs, Value: "1", Op: 9}},
	}
	for _, ops := range bad {
		wantErr(t, "alter", e.b.AlterTopicConfigs(ctx, "c", ops, false), ErrInvalidConfig)
	}
	if c, _ := configValue(tp.Configs(), RetentionMs); !c.Default {
		t.Fatalf("a failed alter changed retention.ms: %+v", c)
	}
	wantErr(t, "alter unknown topic", e.b.AlterTopicConfigs(ctx, "nope", nil, false), ErrUnknownTopic)

	// Replace: everything not given goes back to default.
	if err := e.b.ReplaceTopicConfigs(ctx, "c", map[string]string{MaxMessageBytes: "100"}, false); err != nil {
		t.Fatal(err)
	}
	for _, c := range tp.Configs() {
		if c.Default != (c.Name != MaxMessageBytes) {
			t.Fatalf("after replace: %+v", c)
		}
	}
	if c := logCfg(); c != logstore.DefaultConfig() {
		t.Fatalf("log config after replace: %+v", c)
	}
	wantErr(t, "replace bad", e.b.ReplaceTopicConfigs(ctx, "c", map[string]string{SegmentMs: "x"}, false), ErrInvalidConfig)

	// Restart keeps the configs.
	e.b.AlterTopicConfigs(ctx, "c", []ConfigOp{{Name: RetentionBytes, Value: "4096", Op: ConfigSet}}, false)
	e = e.reopen(t)
	tp, _ = e.b.Topic("c")
	if c, _ := configValue(tp.Configs(), RetentionBytes); c.Value != "4096" || c.Default {
		t.Fatalf("after restart: %+v", c)
	}
	if c, _ := configValue(tp.Configs(), MaxMessageBytes); c.Value != "100" {
		t.Fatalf("after restart: %+v", c)
	}
	if c := logCfg(); c.RetentionBytes != 4096 {
		t.Fatalf("log config after restart: %+v", c)
	}
}

func TestBrokerConfigs(t *testing.T) {
	e := openEnv(t, fs.NewMem(), nil)
	got := map[string]string{}
	for _, c := range e.b.BrokerConfigs() {
		if !c.ReadOnly {
			t.Errorf("%s is not read-only", c.Name)
		}
		got[c.Name] = c.Value
	}
	for k, v := range map[string]string{
		"broker.id": "0", "default.replication.factor": "1", "min.insync.replicas": "1",
		"num.partitions": "1", "auto.create.topics.enable": "true", "message.max.bytes": "1048588",
		"log.retention.ms": "604800000", "log.segment.bytes": "1073741824",
	} {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
}

func TestDeleteTopic(t *testing.T) {
	e := openEnv(t, fs.NewMem(), nil)
	tp := e.create(t, "d", 2, nil)
	p := e.partition(t, "d", 1)
	mustProduce(t, p, batch(3, 0, 1))
	ch := p.Wait()
	if err := e.b.DeleteTopic(ctx, "d"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []<-chan struct{}{ch, p.Wait()} {
		select {
		case <-c:
		case <-time.After(10 * time.Second):
			t.Fatal("Wait not woken by the delete")
		}
	}
	if _, ok := e.b.Topic("d"); ok {
		t.Fatal("topic still there")
	}
	if _, ok := e.b.TopicByID(tp.ID()); ok {
		t.Fatal("topic still there by id")
	}
	if !tp.Deleted() {
		t.Fatal("Deleted is false")
	}
	if !slices.Equal(e.ls.Logs(), []string{"__meta"}) {
		t.Fatalf("logs %v", e.ls.Logs())
	}
	wantErr(t, "produce to deleted", produce(p, batch(1, 0, 1)).Err, ErrUnknownTopic)
	_, err := p.Read(nil, 0, 100)
	wantErr(t, "read deleted", err, ErrUnknownTopic)
	_, _, _, err = p.ListOffset(-1)
	wantErr(t, "list deleted", err, ErrUnknownTopic)
	wantErr(t, "delete again", e.b.DeleteTopic(ctx, "d"), ErrUnknownTopic)

	// The name is free again, with a new id and empty logs.
	tp2 := e.create(t, "d", 1, nil)
	if tp2.ID() == tp.ID() {
		t.Fatal("recreated topic has the old id")
	}
	if hw := e.partition(t, "d", 0).HighWatermark(); hw != 0 {
		t.Fatalf("recreated partition has hw %d", hw)
	}
	e = e.reopen(t)
	if tps := e.b.Topics(); len(tps) != 1 || tps[0].ID() != tp2.ID() || tps[0].NumPartitions() != 1 {
		t.Fatalf("after restart: %v", tps)
	}
}

func TestCreatePartitions(t *testing.T) {
	e := openEnv(t, fs.NewMem(), nil)
	tp := e.create(t, "p", 2, map[string]string{SegmentBytes: "4096"})
	wantErr(t, "same count", e.b.CreatePartitions(ctx, "p", 2, false), ErrInvalidPartitions)
	wantErr(t, "fewer", e.b.CreatePartitions(ctx, "p", 1, false), ErrInvalidPartitions)
	wantErr(t, "too many", e.b.CreatePartitions(ctx, "p", maxPartitions+1, false), ErrInvalidPartitions)
	wantErr(t, "unknown", e.b.CreatePartitions(ctx, "q", 3, false), ErrUnknownTopic)
	if err := e.b.CreatePartitions(ctx, "p", 5, true); err != nil || tp.NumPartitions() != 2 {
		t.Fatalf("validate only: %v, %d partitions", err, tp.NumPartitions())
	}
	if err := e.b.CreatePartitions(ctx, "p", 5, false); err != nil {
		t.Fatal(err)
	}
	if tp.NumPartitions() != 5 {
		t.Fatalf("%d partitions", tp.NumPartitions())
	}
	p4 := e.partition(t, "p", 4)
	mustProduce(t, p4, batch(2, 0, 1))
	if l, _ := e.ls.Log("p-4"); l.Config().SegmentBytes != 4096 {
		t.Fatal("new partition lacks the topic's config")
	}
	e = e.reopen(t)
	if tp, _ := e.b.Topic("p"); tp.NumPartitions() != 5 {
		t.Fatalf("after restart: %d partitions", tp.NumPartitions())
	}
	if hw := e.partition(t, "p", 4).HighWatermark(); hw != 2 {
		t.Fatalf("after restart: hw %d", hw)
	}
}

func TestRestartKeepsEverything(t *testing.T) {
	mem := fs.NewMem()
	e := openEnv(t, mem, nil)
	a := e.create(t, "alpha", 3, map[string]string{MessageTimestampType: LogAppendTime})
	e.create(t, "beta", 1, nil)
	var sent [][]byte
	for i := range 3 {
		b := batch(2, i*2, int64(100+i))
		sent = append(sent, b)
		mustProduce(t, e.partition(t, "alpha", 2), b)
	}
	id1, _, err := e.b.InitProducerID(ctx)
	if err != nil {
		t.Fatal(err)
	}
	e = e.reopen(t)
	a2, ok := e.b.Topic("alpha")
	if !ok || a2.ID() != a.ID() || a2.NumPartitions() != 3 {
		t.Fatalf("alpha after restart: %v", a2)
	}
	if c, _ := configValue(a2.Configs(), MessageTimestampType); c.Value != LogAppendTime {
		t.Fatalf("config after restart: %+v", c)
	}
	if _, ok := e.b.Topic("beta"); !ok {
		t.Fatal("beta lost")
	}
	recs := readAll(t, e.partition(t, "alpha", 2))
	if len(recs) != 6 {
		t.Fatalf("%d records after restart", len(recs))
	}
	var want []logstore.Record
	for _, b := range sent {
		rs, err := logstore.DecodeRecords(b)
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, rs...)
	}
	for i, r := range recs {
		if r.Offset != int64(i) || string(r.Key) != "k"+string(rune('0'+i)) ||
			string(r.Key) != string(want[i].Key) || string(r.Value) != string(want[i].Value) {
			t.Fatalf("record %d: %+v, sent %+v", i, r, want[i])
		}
	}
	id2, _, err := e.b.InitProducerID(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if id2 <= id1 {
		t.Fatalf("producer id %d after restart, %d before", id2, id1)
	}
}

// A crash right after each admin call returns keeps its effect: every
// change is durable before the call returns.
func TestAdminDurableAcrossCrash(t *testing.T) {
	mem := fs.NewMem()
	e := openEnv(t, mem, nil)
	e.create(t, "x", 2, nil)
	e.create(t, "y", 1, nil)
	if err := e.b.CreatePartitions(ctx, "x", 3, false); err != nil {
		t.Fatal(err)
	}
	if err := e.b.AlterTopicConfigs(ctx, "x", []ConfigOp{{Name: RetentionMs, Value: "777", Op: ConfigSet}}, false); err != nil {
		t.Fatal(err)
	}
	if err := e.b.DeleteTopic(ctx, "y"); err != nil {
		t.Fatal(err)
	}
	id, _, _ := e.b.InitProducerID(ctx)
	mem.Crash()
	e2 := openEnv(t, mem, nil)
	x, ok := e2.b.Topic("x")
	if !ok || x.NumPartitions() != 3 {
		t.Fatalf("x after crash: %v", x)
	}
	if c, _ := configValue(x.Configs(), RetentionMs); c.Value != "777" {
		t.Fatalf("config after crash: %+v", c)
	}
	if _, ok := e2.b.Topic("y"); ok {
		t.Fatal("y came back")
	}
	if id2, _, _ := e2.b.InitProducerID(ctx); id2 <= id {
		t.Fatalf("producer id %d reused after crash (had %d)", id2, id)
	}
	if l, _ := e2.ls.Log("x-0"); l.Config().RetentionAge.Milliseconds() != 777 {
		t.Fatal("log config not applied after crash")
	}
}

// Half-done changes, as a crash between their steps leaves them, are
// finished or undone by Open.
func TestOpenCleansHalfDoneChanges(t *testing.T) {
	mem := fs.NewMem()
	e := openEnv(t, mem, nil)
	e.create(t, "keep", 2, nil)
	e.create(t, "gone", 2, nil)
	mustProduce(t, e.partition(t, "keep", 1), batch(1, 0, 1))
	// CreateTopic cut after its logs: logs without a record.
	for _, n := range []string{"orphan-0", "orphan-1"} {
		if _, err := e.ls.Create(n, logstore.DefaultConfig()); err != nil {
			t.Fatal(err)
		}
	}
	// CreatePartitions cut after its logs: a log past the recorded count.
	if _, err := e.ls.Create("keep-2", logstore.DefaultConfig()); err != nil {
		t.Fatal(err)
	}
	// DeleteTopic cut after its record: the logs remain.
	if err := e.md.Delete(ctx, topicKey("gone")); err != nil {
		t.Fatal(err)
	}
	// A config change cut after its record: the logs keep the old config.
	l, _ := e.ls.Log("keep-0")
	if err := l.SetConfig(func() logstore.Config { c := l.Config(); c.SegmentBytes = 5000; return c }()); err != nil {
		t.Fatal(err)
	}
	// A log that is not a partition's is left alone.
	if _, err := e.ls.Create("queue.things", logstore.DefaultConfig()); err != nil {
		t.Fatal(err)
	}
	mem.Crash()

	e2 := openEnv(t, mem, nil)
	if got, want := e2.ls.Logs(), []string{"__meta", "keep-0", "keep-1", "queue.things"}; !slices.Equal(got, want) {
		t.Fatalf("logs after open: %v, want %v", got, want)
	}
	if _, ok := e2.b.Topic("gone"); ok {
		t.Fatal("deleted topic is back")
	}
	if l, _ := e2.ls.Log("keep-0"); l.Config() != logstore.DefaultConfig() {
		t.Fatalf("log config not restored from the record: %+v", l.Config())
	}
	if hw := e2.partition(t, "keep", 1).HighWatermark(); hw != 1 {
		t.Fatalf("hw %d", hw)
	}
	// A record whose log went missing gets an empty log.
	e2.close()
	e3, err := tryOpenEnv(mem, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := e3.ls.Delete("keep-0"); err != nil {
		t.Fatal(err)
	}
	e3.b.Close()
	e3.md.Close()
	e3.ls.Close()
	e4 := openEnv(t, mem, nil)
	if _, ok := e4.ls.Log("keep-0"); !ok {
		t.Fatal("missing log not recreated")
	}
}

func TestParseLogName(t *testing.T) {
	tests := []struct {
		name  string
		topic string
		i     int32
		ok    bool
	}{
		{"a-0", "a", 0, true},
		{"a-1-12", "a-1", 12, true},
		{"a-01", "", 0, false},
		{"a-", "", 0, false},
		{"-1", "", 0, false},
		{"a", "", 0, false},
		{"__meta", "", 0, false},
		{"__x-1", "", 0, false},
		{"a-+1", "", 0, false},
		{"a-99999999999", "", 0, false},
	}
	for _, tc := range tests {
		topic, i, ok := parseLogName(tc.name)
		if topic != tc.topic || i != tc.i || ok != tc.ok {
			t.Errorf("parseLogName(%q) = %q %d %v", tc.name, topic, i, ok)
		}
		if ok && logName(topic, i) != tc.name {
			t.Errorf("logName does not round-trip %q", tc.name)
		}
	}
}

func TestClosedBroker(t *testing.T) {
	e := openEnv(t, fs.NewMem(), nil)
	e.create(t, "c", 1, nil)
	p := e.partition(t, "c", 0)
	ch := p.Wait()
	e.b.Close()
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatal("Wait not woken by Close")
	}
	wantErr(t, "produce", produce(p, batch(1, 0, 1)).Err, ErrClosed)
	_, err := e.b.CreateTopic(ctx, TopicSpec{Name: "d", Partitions: 1}, false)
	wantErr(t, "create", err, ErrClosed)
	_, _, err = e.b.InitProducerID(ctx)
	wantErr(t, "init producer id", err, ErrClosed)
}

// A metadata write that fails leaves the model unchanged, and removes the
// logs created for it.
func TestMetaFailure(t *testing.T) {
	sw := &faultfs.Switch{}
	mem := fs.NewMem()
	e := openEnv(t, faultfs.New(mem, sw), nil)
	e.create(t, "keep", 1, nil)
	failMeta := faultfs.PathContains("/__meta/", faultfs.OnOp(faultfs.OpSync, syscall.EIO))

	sw.Set(failMeta)
	_, err := e.b.CreateTopic(ctx, TopicSpec{Name: "new", Partitions: 2}, false)
	wantErr(t, "create", err, ErrStorage)
	wantErr(t, "delete", e.b.DeleteTopic(ctx, "keep"), ErrStorage)
	wantErr(t, "partitions", e.b.CreatePartitions(ctx, "keep", 3, false), ErrStorage)
	wantErr(t, "alter", e.b.AlterTopicConfigs(ctx, "keep", []ConfigOp{{Name: RetentionMs, Value: "1", Op: ConfigSet}}, false), ErrStorage)
	_, _, err = e.b.InitProducerID(ctx)
	wantErr(t, "init producer id", err, ErrStorage)
	sw.Clear()

	if _, ok := e.b.Topic("new"); ok {
		t.Fatal("failed create left a topic")
	}
	if got := e.ls.Logs(); !slices.Equal(got, []string{"__meta", "keep-0"}) {
		t.Fatalf("logs %v", got)
	}
	tp, ok := e.b.Topic("keep")
	if !ok || tp.NumPartitions() != 1 {
		t.Fatal("failed delete or create partitions changed the topic")
	}
	if c, _ := configValue(tp.Configs(), RetentionMs); !c.Default {
		t.Fatal("failed alter changed the config")
	}
	// Everything works once the disk does.
	e.create(t, "new", 2, nil)
	if err := e.b.DeleteTopic(ctx, "keep"); err != nil {
		t.Fatal(err)
	}
	mem.Crash()
	e2 := openEnv(t, mem, nil)
	if names := topicNames(e2.b); !slices.Equal(names, []string{"new"}) {
		t.Fatalf("topics after crash: %v", names)
	}
	if got := e2.ls.Logs(); !slices.Equal(got, []string{"__meta", "new-0", "new-1"}) {
		t.Fatalf("logs after crash %v", got)
	}
}

func topicNames(b *Broker) []string {
	var names []string
	for _, t := range b.Topics() {
		names = append(names, t.Name())
	}
	return names
}

// Produces racing a delete each complete, stored or refused, and none
// hangs.
func TestDeleteTopicDuringProduce(t *testing.T) {
	e := openEnv(t, fs.NewMem(), nil)
	e.create(t, "race", 1, nil)
	p := e.partition(t, "race", 0)
	pid := newProducer(t, e)
	results := make(chan error, 400)
	go func() {
		for i := range 200 {
			p.Produce(idemBatch(pid, 0, int32(i), 1, 0, 1), func(r ProduceResult) { results <- r.Err })
			p.Produce(batch(1, 0, 1), func(r ProduceResult) { results <- r.Err })
		}
	}()
	if err := e.b.DeleteTopic(ctx, "race"); err != nil {
		t.Fatal(err)
	}
	for range 400 {
		select {
		case err := <-results:
			if err != nil && !errors.Is(err, ErrUnknownTopic) {
				t.Fatalf("produce during delete: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("a produce never completed")
		}
	}
}
