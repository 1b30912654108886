package streamapi

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/loftmq/loft/internal/broker"
	"github.com/loftmq/loft/internal/logstore"
)

func ptr[T any](v T) *T { return &v }

func TestPublishAndRead(t *testing.T) {
	s := newStack(t, stackOpts{})
	s.createTopic("t", 3)
	var ans publishAnswer
	s.must(200, "POST", "/api/v1/topics/t/records", map[string]any{"records": []any{
		map[string]any{"partition": 2, "key": "k1", "value": "héllo", "headers": []any{
			map[string]any{"key": "h1", "value": "v1"}, map[string]any{"key": "h2", "value": nil}}, "timestamp": 1700000000000},
		map[string]any{"partition": 2, "key": base64.StdEncoding.EncodeToString([]byte{0xff, 0}), "value": nil, "encoding": "base64"},
		map[string]any{"partition": 0, "value": "x"},
	}}).decode(t, &ans)
	if ans.Topic != "t" || len(ans.Offsets) != 3 || ans.Error != "" {
		t.Fatalf("answer %+v", ans)
	}
	for i, want := range []published{{Partition: 2, Offset: ptr[int64](0)}, {Partition: 2, Offset: ptr[int64](1)}, {Partition: 0, Offset: ptr[int64](0)}} {
		if got := ans.Offsets[i]; got.Partition != want.Partition || got.Offset == nil || *got.Offset != *want.Offset {
			t.Errorf("offsets[%d] = %+v, want %d@%d", i, got, *want.Offset, want.Partition)
		}
	}

	var rd readAnswer
	s.must(200, "GET", "/api/v1/topics/t/partitions/2/records?offset=0", nil).decode(t, &rd)
	if rd.Topic != "t" || rd.Partition != 2 || len(rd.Records) != 2 || rd.NextOffset != 2 || rd.EndOffset != 2 || rd.StartOffset != 0 {
		t.Fatalf("read %+v", rd)
	}
	r0 := rd.Records[0]
	if r0.Offset != 0 || r0.Timestamp != 1700000000000 || r0.Encoding != "utf8" || *r0.Key != "k1" || *r0.Value != "héllo" ||
		len(r0.Headers) != 2 || r0.Headers[0].Key != "h1" || *r0.Headers[0].Value != "v1" || r0.Headers[1].Value != nil {
		t.Errorf("record 0: %+v", r0)
	}
	// Bytes that are not UTF-8 come as base64, whatever was asked.
	r1 := rd.Records[1]
	if r1.Encoding != "base64" || *r1.Key != "/wA=" || r1.Value != nil || len(r1.Headers) != 0 {
		t.Errorf("record 1: %+v", r1)
	}
	if r1.Timestamp < time.Now().Add(-time.Minute).UnixMilli() {
		t.Errorf("record 1 timestamp %d, want about now", r1.Timestamp)
	}

	s.must(200, "GET", "/api/v1/topics/t/partitions/2/records?offset=1&encoding=base64", nil).decode(t, &rd)
	if len(rd.Records) != 1 || rd.Records[0].Offset != 1 || rd.Records[0].Encoding != "base64" {
		t.Errorf("from 1: %+v", rd)
	}
	s.must(200, "GET", "/api/v1/topics/t/partitions/2/records?offset=0&max_records=1&encoding=base64", nil).decode(t, &rd)
	if len(rd.Records) != 1 || *rd.Records[0].Key != base64.StdEncoding.EncodeToString([]byte("k1")) || rd.NextOffset != 1 {
		t.Errorf("max_records=1, base64: %+v", rd)
	}
	s.must(200, "GET", "/api/v1/topics/t/partitions/2/records?offset=latest", nil).decode(t, &rd)
	if len(rd.Records) != 0 || rd.NextOffset != 2 {
		t.Errorf("latest: %+v", rd)
	}
	s.must(200, "GET", "/api/v1/topics/t/partitions/2/records?offset=earliest", nil).decode(t, &rd)
	if len(rd.Records) != 2 {
		t.Errorf("earliest: %+v", rd)
	}
	s.must(200, "GET", "/api/v1/topics/t/partitions/2/records?timestamp=1700000000001", nil).decode(t, &rd)
	if len(rd.Records) != 1 || rd.Records[0].Offset != 1 {
		t.Errorf("by timestamp: %+v", rd)
	}
	s.must(200, "GET", fmt.Sprintf("/api/v1/topics/t/partitions/2/records?timestamp=%d", time.Now().Add(time.Hour).UnixMilli()), nil).decode(t, &rd)
	if len(rd.Records) != 0 || rd.NextOffset != 2 {
		t.Errorf("by a future timestamp: %+v", rd)
	}
}

func TestPublishPartitioning(t *testing.T) {
	s := newStack(t, stackOpts{})
	s.createTopic("t", 4)
	var recs []any
	for i := range 20 {
		recs = append(recs, map[string]any{"key": fmt.Sprintf("key-%d", i), "value": "v"})
	}
	var ans publishAnswer
	s.must(200, "POST", "/api/v1/topics/t/records", map[string]any{"records": recs}).decode(t, &ans)
	for i, o := range ans.Offsets {
		if want := broker.PartitionFor(fmt.Appendf(nil, "key-%d", i), 4); o.Partition != want {
			t.Errorf("key-%d went to %d, want %d as Kafka's partitioner", i, o.Partition, want)
		}
	}
	// Keyless records of one request stay together.
	s.must(200, "POST", "/api/v1/topics/t/records", map[string]any{"records": []any{
		map[string]any{"value": "a"}, map[string]any{"value": "b"}, map[string]any{"value": "c"}}}).decode(t, &ans)
	for _, o := range ans.Offsets[1:] {
		if o.Partition != ans.Offsets[0].Partition {
			t.Errorf("keyless records split: %+v", ans.Offsets)
		}
	}
}

func TestPublishErrors(t *testing.T) {
	s := newStack(t, stackOpts{})
	s.createTopic("t", 2)
	s.must(201, "POST", "/api/v1/topics", map[string]any{"name": "compacted", "configs": map[string]any{"cleanup.policy": "compact"}})
	s.must(201, "POST", "/api/v1/topics", map[string]any{"name": "small", "configs": map[string]any{"max.message.bytes": 200}})
	path := "/api/v1/topics/t/records"
	one := func(rec map[string]any) map[string]any { return map[string]any{"records": []any{rec}} }
	wantError(t, s.req("POST", "/api/v1/topics/none/records", "", one(map[string]any{"value": "v"})), 404, "not_found", "none")
	wantError(t, s.req("POST", path, "", map[string]any{"records": []any{}}), 400, "bad_request", "none given")
	wantError(t, s.req("POST", path, "", map[string]any{}), 400, "bad_request", "none given")
	wantError(t, s.req("POST", path, "", one(map[string]any{"value": "v", "partition": 2})), 404, "not_found", "records[0].partition")
	wantError(t, s.req("POST", path, "", one(map[string]any{"value": "v", "partition": -1})), 404, "not_found", "partition")
	wantError(t, s.req("POST", path, "", one(map[string]any{"value": "!!", "encoding": "base64"})), 400, "bad_request", "records[0].value")
	wantError(t, s.req("POST", path, "", one(map[string]any{"value": "v", "encoding": "hex"})), 400, "bad_request", "records[0].encoding")
	wantError(t, s.req("POST", path, "", one(map[string]any{"value": "v", "timestamp": -5})), 400, "bad_request", "timestamp")
	wantError(t, s.req("POST", path, "", one(map[string]any{"value": 5})), 400, "bad_request", "value")
	wantError(t, s.req("POST", path, "", one(map[string]any{"valeu": "v"})), 400, "bad_request", "unknown field")
	wantError(t, s.req("POST", "/api/v1/topics/compacted/records", "", one(map[string]any{"value": "v"})), 400, "bad_request", "key")

	r := s.req("POST", "/api/v1/topics/small/records", "", one(map[string]any{"value": string(make([]byte, 300))}))
	wantError(t, r, 413, "too_large", "max.message.bytes")
	var ans publishAnswer
	r.decode(t, &ans)
	if len(ans.Offsets) != 1 || ans.Offsets[0].Offset != nil || ans.Offsets[0].Error != "too_large" {
		t.Errorf("offsets of a failed publish: %+v", ans.Offsets)
	}

	many := make([]any, MaxPublishRecords+1)
	for i := range many {
		many[i] = map[string]any{}
	}
	wantError(t, s.req("POST", path, "", map[string]any{"records": many}), 413, "too_large", "at most")
	// Nothing was written by the refused requests.
	var d topicDetail
	s.must(200, "GET", "/api/v1/topics/t", nil).decode(t, &d)
	for _, p := range d.Partitions {
		if p.EndOffset != 0 {
			t.Errorf("partition %d has %d records", p.Partition, p.EndOffset)
		}
	}
}

func TestReadErrors(t *testing.T) {
	s := newStack(t, stackOpts{})
	s.createTopic("t", 1)
	s.produce("t", 0, logstore.Record{Value: []byte("a")})
	base := "/api/v1/topics/t/partitions/0/records"
	wantError(t, s.req("GET", base, "", nil), 400, "bad_request", "offset: required")
	wantError(t, s.req("GET", base+"?offset=-1", "", nil), 400, "bad_request", "offset")
	wantError(t, s.req("GET", base+"?offset=first", "", nil), 400, "bad_request", "offset")
	wantError(t, s.req("GET", base+"?offset=0&timestamp=0", "", nil), 400, "bad_request", "not both")
	wantError(t, s.req("GET", base+"?offset=0&max_records=0", "", nil), 400, "bad_request", "max_records")
	wantError(t, s.req("GET", base+"?offset=0&max_records=1001", "", nil), 400, "bad_request", "max_records")
	wantError(t, s.req("GET", base+"?offset=0&max_wait_ms=60000", "", nil), 400, "bad_request", "max_wait_ms")
	wantError(t, s.req("GET", base+"?offset=0&max_wait_ms=soon", "", nil), 400, "bad_request", "max_wait_ms")
	wantError(t, s.req("GET", base+"?offset=0&encoding=hex", "", nil), 400, "bad_request", "encoding")
	r := s.req("GET", base+"?offset=5", "", nil)
	wantError(t, r, 416, "offset_out_of_range", "5")
	if v := r.json(t); v["start_offset"] != 0.0 || v["end_offset"] != 1.0 {
		t.Errorf("out of range answer %s", r.body)
	}
	wantError(t, s.req("GET", "/api/v1/topics/t/partitions/0/sse?offset=5", "", nil), 416, "offset_out_of_range", "")
	wantError(t, s.req("GET", "/api/v1/topics/t/partitions/0/sse?offset=x", "", nil), 400, "bad_request", "offset")
	wantError(t, s.req("GET", "/api/v1/topics/none/partitions/0/sse", "", nil), 404, "not_found", "none")
}

func TestLongPoll(t *testing.T) {
	s := newStack(t, stackOpts{serverTimeouts: 2 * time.Second})
	s.createTopic("t", 1)
	base := "/api/v1/topics/t/partitions/0/records"

	// Nothing arrives: an empty answer once the wait is over.
	start := time.Now()
	var rd readAnswer
	s.must(200, "GET", base+"?offset=0&max_wait_ms=300", nil).decode(t, &rd)
	if took := time.Since(start); took < 300*time.Millisecond || took > 5*time.Second {
		t.Errorf("an empty poll took %v, want the wait of 300ms", took)
	}
	if len(rd.Records) != 0 || rd.NextOffset != 0 {
		t.Errorf("empty poll: %+v", rd)
	}

	// A record arrives during the wait: answered as it comes.
	produced := s.produceLater(200*time.Millisecond, "t", 0, "late")
	start = time.Now()
	s.must(200, "GET", base+"?offset=0&max_wait_ms=5000", nil).decode(t, &rd)
	if err := <-produced; err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 4*time.Second {
		t.Errorf("the poll took %v: it did not wake when the record came", took)
	}
	if len(rd.Records) != 1 || *rd.Records[0].Value != "late" || rd.NextOffset != 1 {
		t.Fatalf("poll: %+v", rd)
	}

	// A wait longer than the server's read and write timeouts (2s).
	produced = s.produceLater(2500*time.Millisecond, "t", 0, "later")
	s.must(200, "GET", base+"?offset=1&max_wait_ms=5000", nil).decode(t, &rd)
	if err := <-produced; err != nil {
		t.Fatal(err)
	}
	if len(rd.Records) != 1 || *rd.Records[0].Value != "later" {
		t.Fatalf("poll past the server's timeouts: %+v", rd)
	}
}

func TestLongPollEndsOnTopicDelete(t *testing.T) {
	s := newStack(t, stackOpts{})
	s.createTopic("t", 1)
	deleted := make(chan error, 1)
	go func() {
		time.Sleep(200 * time.Millisecond)
		deleted <- s.b.DeleteTopic(context.Background(), "t")
	}()
	start := time.Now()
	wantError(t, s.req("GET", "/api/v1/topics/t/partitions/0/records?offset=0&max_wait_ms=5000", "", nil), 404, "not_found", "")
	if err := <-deleted; err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 4*time.Second {
		t.Errorf("took %v", took)
	}
}

func TestLongPollEndsOnClose(t *testing.T) {
	s := newStack(t, stackOpts{})
	s.createTopic("t", 1)
	go func() {
		time.Sleep(200 * time.Millisecond)
		s.api.Close()
	}()
	start := time.Now()
	wantError(t, s.req("GET", "/api/v1/topics/t/partitions/0/records?offset=0&max_wait_ms=5000", "", nil), 503, "unavailable", "shutting down")
	if took := time.Since(start); took > 4*time.Second {
		t.Errorf("took %v", took)
	}
}

// produceLater writes a record to the broker after d, in the background;
// the channel gives the outcome.
func (s *stack) produceLater(d time.Duration, topic string, partition int32, value string) <-chan error {
	t, _ := s.b.Topic(topic)
	p, _ := t.Partition(partition)
	raw := logstore.AppendBatch(nil, logstore.BatchOptions{ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1},
		[]logstore.Record{{Timestamp: time.Now().UnixMilli(), Value: []byte(value)}})
	out := make(chan error, 1)
	time.AfterFunc(d, func() {
		p.Produce(raw, func(r broker.ProduceResult) { out <- r.Err })
	})
	return out
}

func TestSSE(t *testing.T) {
	s := newStack(t, stackOpts{heartbeat: 100 * time.Millisecond, serverTimeouts: time.Second})
	s.createTopic("t", 2)
	s.produce("t", 1, logstore.Record{Value: []byte("old")})
	ctx, cancel := context.WithCancel(testCtx(t))
	defer cancel()
	// By default the stream starts at the end: only new records.
	er := s.openStream(ctx, "/api/v1/topics/t/partitions/1/sse", nil)
	if ev, _ := er.next(t, testTimeout); ev.Comment == "" {
		t.Fatalf("first event %+v, want the opening comment", ev)
	}
	for i := range 3 {
		s.req("POST", "/api/v1/topics/t/records", "", map[string]any{"records": []any{
			map[string]any{"partition": 1, "value": fmt.Sprint("new-", i), "headers": []any{map[string]any{"key": "n", "value": fmt.Sprint(i)}}}}})
	}
	for i := range 3 {
		r := er.nextRecord(t)
		if r.Offset != int64(i+1) || *r.Value != fmt.Sprint("new-", i) || *r.Headers[0].Value != fmt.Sprint(i) {
			t.Fatalf("record %d: %+v", i, r)
		}
	}
	// Idle, it sends heartbeats; and it outlives the server's timeouts (1s).
	deadline := time.Now().Add(1500 * time.Millisecond)
	beats := 0
	for time.Now().Before(deadline) {
		ev, ok := er.next(t, testTimeout)
		if !ok {
			t.Fatalf("the stream ended while idle")
		}
		if ev.Comment == "heartbeat" {
			beats++
		}
	}
	if beats < 3 {
		t.Errorf("%d heartbeats in 1.5s at 100ms", beats)
	}
	s.produce("t", 1, logstore.Record{Value: []byte("after the timeouts")})
	if r := er.nextRecord(t); *r.Value != "after the timeouts" {
		t.Errorf("record %+v", r)
	}

	// From an offset, and resuming after Last-Event-ID.
	er2 := s.openStream(ctx, "/api/v1/topics/t/partitions/1/sse?offset=0&encoding=base64", nil)
	if r := er2.nextRecord(t); r.Offset != 0 || *r.Value != base64.StdEncoding.EncodeToString([]byte("old")) {
		t.Errorf("from 0: %+v", r)
	}
	er3 := s.openStream(ctx, "/api/v1/topics/t/partitions/1/sse", http.Header{"Last-Event-Id": {"2"}})
	if r := er3.nextRecord(t); r.Offset != 3 {
		t.Errorf("after Last-Event-ID 2: %+v", r)
	}
}

func TestSSEEnds(t *testing.T) {
	s := newStack(t, stackOpts{heartbeat: time.Hour})
	s.createTopic("t", 1)
	s.createTopic("u", 1)
	ctx := testCtx(t)
	er := s.openStream(ctx, "/api/v1/topics/t/partitions/0/sse", nil)
	eu := s.openStream(ctx, "/api/v1/topics/u/partitions/0/sse", nil)
	er.next(t, testTimeout)
	eu.next(t, testTimeout)

	// Deleting the topic ends its stream with an error event.
	s.must(204, "DELETE", "/api/v1/topics/t", nil)
	ev, ok := er.next(t, testTimeout)
	if !ok || ev.Event != "error" {
		t.Fatalf("after delete: %+v %v, want an error event", ev, ok)
	}
	if _, ok := er.next(t, testTimeout); ok {
		t.Errorf("the stream went on after its error")
	}

	// Shutting the server down ends the others.
	done := make(chan struct{})
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		s.srv.Config.Shutdown(ctx)
		close(done)
	}()
	if _, ok := eu.next(t, testTimeout); ok {
		t.Errorf("the stream went on after Shutdown")
	}
	select {
	case <-done:
	case <-time.After(testTimeout):
		t.Fatalf("Shutdown did not return")
	}
}
