package kafka

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestStalledConnectionsClosed holds connections without finishing a
// request: silent, half a size, half a request, a request trickled a
// byte every 100 ms. Each is closed once the idle timeout has passed
// (from the first byte of its request), with a log line, and not
// before; the ceiling is generous, but below twice the timeout, which
// a wait started over would take.
func TestStalledConnectionsClosed(t *testing.T) {
	const idle = time.Second
	s := startStack(t, stackOpts{idleTimeout: idle})
	req := kmsg.NewRequestFormatter(kmsg.FormatterClientID("raw")).
		AppendRequest(nil, kmsg.NewPtrApiVersionsRequest(), 1)
	for _, tt := range []struct {
		name  string
		begin func(rc *rawConn)
		log   string
	}{
		{"silent", func(*rawConn) {}, "no request received, closing the idle connection"},
		{"half a size", func(rc *rawConn) { rc.write(req[:2]) }, "request not received in time"},
		{"half a request", func(rc *rawConn) { rc.write(req[:len(req)-2]) }, "request not received in time"},
		{"trickled", func(rc *rawConn) {
			rc.write(req[:1])
			go func() {
				for _, b := range req[1:] {
					time.Sleep(100 * time.Millisecond)
					if _, err := rc.c.Write([]byte{b}); err != nil {
						return
					}
				}
			}()
		}, "request not received in time"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rc := s.dialAs(t)
			tt.begin(rc)
			start := time.Now()
			// A byte trickled in as the server closes makes the close a
			// reset.
			if n, err := io.Copy(io.Discard, rc.c); n != 0 || err != nil && !errors.Is(err, syscall.ECONNRESET) {
				t.Fatalf("read %d bytes, %v; want the connection closed", n, err)
			}
			took := time.Since(start)
			if took < idle*9/10 || took > idle*19/10 {
				t.Errorf("closed after %v, want about %v", took, idle)
			}
			s.logs.waitLog(t, tt.log, "client="+rc.c.LocalAddr().String())
		})
	}
}

// TestLongPollIsNotIdle sends a Fetch that waits longer than the idle
// timeout: the connection stays open for its answer, then is closed
// once idle.
func TestLongPollIsNotIdle(t *testing.T) {
	const idle = time.Second
	s := startStack(t, stackOpts{idleTimeout: idle})
	s.createTopic("lp", 1, nil)
	rc := s.dial()
	req := kmsg.NewPtrFetchRequest()
	req.Version, req.MaxWaitMillis, req.MinBytes, req.MaxBytes = 11, int32(3*idle/time.Millisecond), 1, 1<<20
	ft := kmsg.NewFetchRequestTopic()
	ft.Topic = "lp"
	fp := kmsg.NewFetchRequestTopicPartition()
	fp.PartitionMaxBytes = 1 << 20
	ft.Partitions = append(ft.Partitions, fp)
	req.Topics = append(req.Topics, ft)
	start := time.Now()
	rc.send(req, 5)
	resp := rc.read(req, 5).(*kmsg.FetchResponse)
	if p := resp.Topics[0].Partitions[0]; p.ErrorCode != 0 || len(p.RecordBatches) != 0 {
		t.Fatalf("fetch answer %+v", p)
	}
	if took := time.Since(start); took < 2*idle {
		t.Fatalf("the long poll was answered after %v, before its wait of %v", took, 3*idle)
	}
	rc.expectClosed()
}

// TestClientNotReadingClosed sends requests without ever reading the
// answers: once the socket's buffers are full, the connection is closed
// after the write timeout, with a log line, instead of holding its
// goroutines and responses for ever.
func TestClientNotReadingClosed(t *testing.T) {
	s := startStack(t, stackOpts{writeTimeout: 500 * time.Millisecond})
	rc := s.dial()
	rc.c.(*net.TCPConn).SetReadBuffer(4 << 10)
	req := kmsg.NewRequestFormatter(kmsg.FormatterClientID("raw")).
		AppendRequest(nil, kmsg.NewPtrApiVersionsRequest(), 1)
	batch := bytes.Repeat(req, 1000)
	var err error
	for i := 0; i < 1000 && err == nil; i++ {
		_, err = rc.c.Write(batch)
	}
	if err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("a million requests written, never read: %v; want the connection closed", err)
	}
	s.logs.waitLog(t, "client not reading its responses", "client="+rc.c.LocalAddr().String())
}
