package kafka

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// rawConn is a bare TCP connection speaking the Kafka framing, for tests
// that need to send what no client library sends.
type rawConn struct {
	t testing.TB
	c net.Conn
}

func (s *stack) dial() *rawConn { return s.dialAs(s.t) }

// dialAs dials for t, a subtest of the stack's test.
func (s *stack) dialAs(t testing.TB) *rawConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", s.addr, testTimeout)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(testTimeout))
	return &rawConn{t: t, c: c}
}

// send writes req at its set version with correlation id corr.
func (rc *rawConn) send(req kmsg.Request, corr int32) {
	rc.t.Helper()
	rc.write(kmsg.NewRequestFormatter(kmsg.FormatterClientID("raw")).AppendRequest(nil, req, corr))
}

func (rc *rawConn) write(b []byte) {
	rc.t.Helper()
	if _, err := rc.c.Write(b); err != nil {
		rc.t.Fatalf("write: %v", err)
	}
}

// readFrame reads one response frame: its correlation id and the rest.
func (rc *rawConn) readFrame() (int32, []byte, error) {
	var sz [4]byte
	if _, err := io.ReadFull(rc.c, sz[:]); err != nil {
		return 0, nil, err
	}
	b := make([]byte, binary.BigEndian.Uint32(sz[:]))
	if _, err := io.ReadFull(rc.c, b); err != nil {
		return 0, nil, err
	}
	return int32(binary.BigEndian.Uint32(b)), b[4:], nil
}

// read reads the response to req, checking the correlation id.
func (rc *rawConn) read(req kmsg.Request, corr int32) kmsg.Response {
	rc.t.Helper()
	got, body, err := rc.readFrame()
	if err != nil {
		rc.t.Fatalf("read response: %v", err)
	}
	if got != corr {
		rc.t.Fatalf("correlation id %d, want %d", got, corr)
	}
	resp := req.ResponseKind()
	if resp.IsFlexible() && resp.Key() != int16(kmsg.ApiVersions) {
		body = body[1:] // empty header tags
	}
	if err := resp.ReadFrom(body); err != nil {
		rc.t.Fatalf("decode %s response: %v", kmsg.NameForKey(req.Key()), err)
	}
	return resp
}

// expectClosed waits for the server to close the connection.
func (rc *rawConn) expectClosed() {
	rc.t.Helper()
	_, _, err := rc.readFrame()
	if err == nil {
		rc.t.Fatal("got a response, want the connection closed")
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		rc.t.Fatalf("connection still open after %v", testTimeout)
	}
}

func TestApiVersionsServedRanges(t *testing.T) {
	s := startStack(t, stackOpts{})
	rc := s.dial()
	for _, v := range []int16{0, 3, 5} {
		req := kmsg.NewPtrApiVersionsRequest()
		req.Version = v
		req.ClientSoftwareName, req.ClientSoftwareVersion = "loft-test", "1.0"
		rc.send(req, int32(v))
		resp := rc.read(req, int32(v)).(*kmsg.ApiVersionsResponse)
		if resp.ErrorCode != 0 {
			t.Fatalf("v%d: error %d", v, resp.ErrorCode)
		}
		if len(resp.ApiKeys) != len(apis) {
			t.Fatalf("v%d: %d keys, want %d", v, len(resp.ApiKeys), len(apis))
		}
		for i, k := range resp.ApiKeys {
			if a := apis[i]; k.ApiKey != int16(a.key) || k.MinVersion != a.min || k.MaxVersion != a.max {
				t.Errorf("v%d: key %+v, want %d v%d-v%d", v, k, a.key, a.min, a.max)
			}
		}
	}
	// No transaction or SASL API may be advertised yet.
	for _, a := range apis {
		switch a.key {
		case kmsg.AddPartitionsToTxn, kmsg.AddOffsetsToTxn, kmsg.EndTxn, kmsg.TxnOffsetCommit,
			kmsg.WriteTxnMarkers, kmsg.SASLHandshake, kmsg.SASLAuthenticate:
			t.Errorf("%s is advertised", a.name())
		}
		if a.max > a.key.Request().MaxVersion() {
			t.Errorf("%s: max v%d above kmsg's v%d", a.name(), a.max, a.key.Request().MaxVersion())
		}
	}
}

func TestApiVersionsUnknownVersion(t *testing.T) {
	s := startStack(t, stackOpts{})
	rc := s.dial()
	// A v99 ApiVersions request: header v2 (flexible), a body this server
	// cannot know. KIP-511: answer v0 with UNSUPPORTED_VERSION and the keys.
	frame := []byte{0, 0, 0, 0, 0, 18, 0, 99, 0, 0, 0, 7, 0, 3, 'r', 'a', 'w', 0, 0xde, 0xad, 0xbe, 0xef}
	binary.BigEndian.PutUint32(frame, uint32(len(frame)-4))
	rc.write(frame)
	req := kmsg.NewPtrApiVersionsRequest() // v0, to decode the v0 answer
	resp := rc.read(req, 7).(*kmsg.ApiVersionsResponse)
	if resp.ErrorCode != kerr.UnsupportedVersion.Code {
		t.Fatalf("error %d, want UNSUPPORTED_VERSION", resp.ErrorCode)
	}
	var sawProduce bool
	for _, k := range resp.ApiKeys {
		sawProduce = sawProduce || k.ApiKey == 0 && k.MinVersion == 3
	}
	if !sawProduce {
		t.Fatalf("keys %+v do not include Produce v3+", resp.ApiKeys)
	}
	// The connection stays usable.
	req = kmsg.NewPtrApiVersionsRequest()
	req.Version = 3
	req.ClientSoftwareName, req.ClientSoftwareVersion = "x", "1"
	rc.send(req, 8)
	if resp := rc.read(req, 8).(*kmsg.ApiVersionsResponse); resp.ErrorCode != 0 {
		t.Fatalf("after the retry: error %d", resp.ErrorCode)
	}
}

func TestApiVersionsBadSoftwareName(t *testing.T) {
	s := startStack(t, stackOpts{})
	rc := s.dial()
	req := kmsg.NewPtrApiVersionsRequest()
	req.Version = 3
	req.ClientSoftwareName, req.ClientSoftwareVersion = "-bad", "1"
	rc.send(req, 1)
	if resp := rc.read(req, 1).(*kmsg.ApiVersionsResponse); resp.ErrorCode != kerr.InvalidRequest.Code {
		t.Fatalf("error %d, want INVALID_REQUEST", resp.ErrorCode)
	}
}

func TestUnsupportedRequestsCloseTheConnection(t *testing.T) {
	s := startStack(t, stackOpts{})
	tests := []struct {
		name  string
		frame func() []byte
		log   string
	}{
		{"produce v2", func() []byte {
			req := kmsg.NewPtrProduceRequest()
			req.Version = 2
			return kmsg.NewRequestFormatter().AppendRequest(nil, req, 1)
		}, "Produce v2"},
		{"fetch v19", func() []byte {
			req := kmsg.NewPtrFetchRequest()
			req.Version = 18
			b := kmsg.NewRequestFormatter().AppendRequest(nil, req, 1)
			binary.BigEndian.PutUint16(b[6:], 19)
			return b
		}, "Fetch v19"},
		{"transactions", func() []byte {
			req := kmsg.NewPtrEndTxnRequest()
			return kmsg.NewRequestFormatter().AppendRequest(nil, req, 1)
		}, "api key 26"},
		{"unknown key", func() []byte {
			return []byte{0, 0, 0, 10, 0x7f, 0x7f, 0, 0, 0, 0, 0, 1, 0xff, 0xff}
		}, "api key 32639"},
		{"malformed body", func() []byte {
			req := kmsg.NewPtrMetadataRequest()
			req.Version = 1
			b := kmsg.NewRequestFormatter().AppendRequest(nil, req, 1)
			// The body is the topic count (null: -1); say 5 follow.
			binary.BigEndian.PutUint32(b[len(b)-4:], 5)
			return b
		}, "malformed"},
		{"short header", func() []byte { return []byte{0, 0, 0, 3, 0, 18, 0} }, "short header"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := s.dialAs(t)
			rc.write(tt.frame())
			rc.expectClosed()
			s.logs.waitLog(t, "closing the connection", rc.c.LocalAddr().String(), tt.log)
		})
	}
}

func TestOversizedFrameClosesOnlyThatConnection(t *testing.T) {
	s := startStack(t, stackOpts{maxRequestBytes: 1 << 20})
	cl := s.client(kgo.DefaultProduceTopic("t"), kgo.AllowAutoTopicCreation())
	ctx := testCtx(t)
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("before")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	for _, size := range []int64{1<<20 + 1, -5} {
		rc := s.dial()
		var b [4]byte
		binary.BigEndian.PutUint32(b[:], uint32(int32(size)))
		rc.write(b[:])
		rc.expectClosed()
		s.logs.waitLog(t, "request size out of bounds", rc.c.LocalAddr().String(), "size="+strconv.FormatInt(size, 10))
	}
	// A frame of exactly the maximum is read (and then refused as garbage).
	rc := s.dial()
	big := make([]byte, 4+1<<20)
	binary.BigEndian.PutUint32(big, 1<<20)
	rc.write(big)
	rc.expectClosed()
	s.logs.waitLog(t, "bad request", rc.c.LocalAddr().String())

	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("after")}).FirstErr(); err != nil {
		t.Fatalf("the other client stopped working: %v", err)
	}
}

// TestPipelinedResponsesInOrder sends many requests of mixed kinds without
// waiting, Produce among them (answered after fsync, asynchronously), and
// checks every response comes back in request order.
func TestPipelinedResponsesInOrder(t *testing.T) {
	s := startStack(t, stackOpts{})
	s.createTopic("p", 2, nil)
	rc := s.dial()
	var reqs []kmsg.Request
	for i := range 100 {
		var req kmsg.Request
		switch i % 3 {
		case 0:
			req = produceRequest("p", int32(i%2), testBatch(t, i))
		case 1:
			m := kmsg.NewPtrMetadataRequest()
			m.Version = 9
			req = m
		default:
			a := kmsg.NewPtrApiVersionsRequest()
			req = a
		}
		reqs = append(reqs, req)
		rc.send(req, int32(i))
	}
	var offsets [2]int64
	for i, req := range reqs {
		resp := rc.read(req, int32(i))
		if p, ok := resp.(*kmsg.ProduceResponse); ok {
			sp := p.Topics[0].Partitions[0]
			if sp.ErrorCode != 0 {
				t.Fatalf("produce %d: error %d", i, sp.ErrorCode)
			}
			if sp.BaseOffset != offsets[sp.Partition] {
				t.Fatalf("produce %d: offset %d, want %d", i, sp.BaseOffset, offsets[sp.Partition])
			}
			offsets[sp.Partition]++
		}
	}
}

// testBatch encodes a one-record, uncompressed RecordBatch v2.
func testBatch(t testing.TB, i int) []byte {
	t.Helper()
	rec := kmsg.Record{Value: []byte(strconv.Itoa(i)), Key: []byte("k")}
	body := rec.AppendTo(nil)[1:] // without the Length varint (0: one byte)
	recBytes := binary.AppendVarint(nil, int64(len(body)))
	recBytes = append(recBytes, body...)
	now := time.Now().UnixMilli()
	b := kmsg.RecordBatch{
		PartitionLeaderEpoch: -1,
		Magic:                2,
		FirstTimestamp:       now,
		MaxTimestamp:         now,
		ProducerID:           -1,
		ProducerEpoch:        -1,
		FirstSequence:        -1,
		NumRecords:           1,
		Records:              recBytes,
	}
	b.Length = int32(len(b.AppendTo(nil)) - 12)
	raw := b.AppendTo(nil)
	b.CRC = int32(crc32.Checksum(raw[21:], crc32.MakeTable(crc32.Castagnoli)))
	return b.AppendTo(nil)
}

// produceRequest is a v9, acks=-1 Produce of one batch to one partition.
func produceRequest(topic string, partition int32, batch []byte) *kmsg.ProduceRequest {
	p := kmsg.NewPtrProduceRequest()
	p.Version, p.Acks = 9, -1
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Partition = partition
	rp.Records = batch
	rt.Partitions = append(rt.Partitions, rp)
	p.Topics = append(p.Topics, rt)
	return p
}

// TestProtocolsDocListsEveryAPI keeps docs/PROTOCOLS.md's table in step
// with what ApiVersions answers.
func TestProtocolsDocListsEveryAPI(t *testing.T) {
	doc, err := os.ReadFile("../../docs/PROTOCOLS.md")
	if err != nil {
		t.Fatal(err)
	}
	rows := 0
	for _, line := range strings.Split(string(doc), "\n") {
		if strings.HasPrefix(line, "| ") && len(strings.Split(line, "|")) == 6 {
			if _, err := strconv.Atoi(strings.TrimSpace(strings.Split(line, "|")[1])); err == nil {
				rows++
			}
		}
	}
	for _, a := range apis {
		versions := fmt.Sprintf("%d–%d", a.min, a.max)
		if a.min == a.max {
			versions = strconv.Itoa(int(a.min))
		}
		row := fmt.Sprintf("| %d | %s | %s |", a.key, a.name(), versions)
		if !strings.Contains(string(doc), row) {
			t.Errorf("docs/PROTOCOLS.md has no row starting %q", row)
		}
	}
	if rows != len(apis) {
		t.Errorf("docs/PROTOCOLS.md lists %d APIs, ApiVersions %d", rows, len(apis))
	}
}

// TestProtocolsDocListsTopicConfigs keeps the topic config table in step
// with the configs the broker honours, and their defaults.
func TestProtocolsDocListsTopicConfigs(t *testing.T) {
	doc, err := os.ReadFile("../../docs/PROTOCOLS.md")
	if err != nil {
		t.Fatal(err)
	}
	s := startStack(t, stackOpts{})
	s.createTopic("doc", 1, nil)
	tp, _ := s.b.Topic("doc")
	for _, c := range tp.Configs() {
		row := fmt.Sprintf("| `%s` | `%s` |", c.Name, c.Value)
		if !strings.Contains(string(doc), row) {
			t.Errorf("docs/PROTOCOLS.md has no row starting %q", row)
		}
	}
	for _, c := range s.b.BrokerConfigs() {
		if !strings.Contains(string(doc), "`"+c.Name+"`") {
			t.Errorf("docs/PROTOCOLS.md does not name broker config %s", c.Name)
		}
	}
}

// TestCloseAnswersLongPolls checks that Close ends a Fetch long poll with
// an answer (not a cut connection), then closes, and returns promptly.
func TestCloseAnswersLongPolls(t *testing.T) {
	s := startStack(t, stackOpts{})
	s.createTopic("lp", 1, nil)
	rc := s.dial()
	req := kmsg.NewPtrFetchRequest()
	req.Version, req.MaxWaitMillis, req.MinBytes, req.MaxBytes = 11, 30000, 1, 1<<20
	ft := kmsg.NewFetchRequestTopic()
	ft.Topic = "lp"
	fp := kmsg.NewFetchRequestTopicPartition()
	fp.PartitionMaxBytes = 1 << 20
	ft.Partitions = append(ft.Partitions, fp)
	req.Topics = append(req.Topics, ft)
	rc.send(req, 5)
	// A second request queued behind the long poll is not read any more.
	rc.send(kmsg.NewPtrApiVersionsRequest(), 6)
	time.Sleep(50 * time.Millisecond) // let the poll start waiting (not an assertion)

	start := time.Now()
	closed := make(chan struct{})
	go func() { s.srv.Close(); close(closed) }()
	resp := rc.read(req, 5).(*kmsg.FetchResponse)
	if p := resp.Topics[0].Partitions[0]; p.ErrorCode != 0 || len(p.RecordBatches) != 0 {
		t.Fatalf("fetch answer %+v", p)
	}
	select {
	case <-closed:
	case <-time.After(closeGrace + 5*time.Second):
		t.Fatal("Close did not return")
	}
	if d := time.Since(start); d > closeGrace {
		t.Errorf("Close took %v", d)
	}
	if _, body, err := rc.readFrame(); err == nil {
		t.Fatalf("an answer after Close: %x", body)
	}
}

// TestHandlerPanicClosesOnlyThatConnection replaces a handler with one
// that panics: its connection is closed with a log line, the server goes
// on serving others.
func TestHandlerPanicClosesOnlyThatConnection(t *testing.T) {
	key := int16(kmsg.DescribeCluster)
	saved := apiByKey[key]
	t.Cleanup(func() { apiByKey[key] = saved }) // after the stack stops
	s := startStack(t, stackOpts{})
	boom := saved
	boom.serve = func(*Server, *request) kmsg.Response { panic("boom") }
	apiByKey[key] = boom

	rc := s.dial()
	rc.send(kmsg.NewPtrDescribeClusterRequest(), 1)
	rc.expectClosed()
	s.logs.waitLog(t, "panic serving a request", "boom", rc.c.LocalAddr().String())

	other := s.dial()
	req := kmsg.NewPtrApiVersionsRequest()
	other.send(req, 2)
	if resp := other.read(req, 2).(*kmsg.ApiVersionsResponse); resp.ErrorCode != 0 {
		t.Fatalf("other connection: error %d", resp.ErrorCode)
	}
}
