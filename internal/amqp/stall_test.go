package amqp_test

import (
	"bufio"
	"io"
	"net"
	"testing"
	"time"

	"github.com/loftmq/loft/internal/amqp"
	"github.com/loftmq/loft/internal/amqp/frame"
)

// openNoHeartbeat opens a connection by hand with heartbeats off.
func openNoHeartbeat(t *testing.T, addr string) (net.Conn, *bufio.Reader) {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	rd := bufio.NewReader(nc)
	io.WriteString(nc, frame.ProtocolHeader)
	readMethod[*frame.ConnectionStart](t, rd)
	writeMethod(t, nc, &frame.ConnectionStartOK{Mechanism: "PLAIN", Response: "\x00guest\x00guest", Locale: "en_US"})
	readMethod[*frame.ConnectionTune](t, rd)
	writeMethod(t, nc, &frame.ConnectionTuneOK{ChannelMax: 10, FrameMax: 4096})
	writeMethod(t, nc, &frame.ConnectionOpen{VirtualHost: "/"})
	readMethod[*frame.ConnectionOpenOK](t, rd)
	return nc, rd
}

// TestHalfSentFrameClosed: on a connection without heartbeats, silence
// between frames is allowed for any time, but a frame begun and not
// finished closes the connection once FrameTimeout has passed since its
// first byte, and not before; the ceiling is generous, but below twice
// the timeout, which a wait started over would take.
func TestHalfSentFrameClosed(t *testing.T) {
	const timeout = time.Second
	l := startListener(t, amqp.Config{FrameTimeout: timeout})

	t.Run("silence between frames", func(t *testing.T) {
		nc, rd := openNoHeartbeat(t, l.addr)
		time.Sleep(timeout * 3 / 2)
		f, _ := frame.MethodFrame(1, &frame.ChannelOpen{})
		if err := f.Write(nc); err != nil {
			t.Fatal(err)
		}
		readMethod[*frame.ChannelOpenOK](t, rd)
	})

	f, _ := frame.MethodFrame(1, &frame.ChannelOpen{})
	whole := f.Append(nil)
	for _, tt := range []struct {
		name string
		part []byte
	}{
		{"half a frame header", whole[:3]},
		{"half a frame", whole[:len(whole)-2]},
	} {
		t.Run(tt.name, func(t *testing.T) {
			nc, rd := openNoHeartbeat(t, l.addr)
			if _, err := nc.Write(tt.part); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			if n, err := io.Copy(io.Discard, rd); err != nil || n != 0 {
				t.Fatalf("read %d bytes, %v; want the connection closed", n, err)
			}
			if took := time.Since(start); took < timeout*9/10 || took > timeout*19/10 {
				t.Errorf("closed after %v, want about %v", took, timeout)
			}
		})
	}
}
