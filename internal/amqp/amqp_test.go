package amqp_test

import (
	"bufio"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"

	"github.com/loftmq/loft/internal/amqp"
	"github.com/loftmq/loft/internal/amqp/frame"
	"github.com/loftmq/loft/internal/auth"
	"github.com/loftmq/loft/internal/fs"
	"github.com/loftmq/loft/internal/logstore"
	"github.com/loftmq/loft/internal/meta"
	"github.com/loftmq/loft/internal/vhost"
)

// listener is an amqp.Server on 127.0.0.1:0 over an in-memory auth store.
type listener struct {
	srv   *amqp.Server
	users *auth.Store
	hosts *vhost.Hosts
	addr  string
	done  chan error
}

func (l *listener) url(user, pass, vhost string) string {
	u := "amqp://" + user + ":" + pass + "@" + l.addr + "/"
	if vhost != "/" {
		u += vhost
	} else {
		u += "%2f"
	}
	return u
}

func startListener(t *testing.T, cfg amqp.Config) *listener {
	t.Helper()
	ls, err := logstore.Open(fs.NewMem(), "data", logstore.Options{
		Logger:        slog.New(slog.DiscardHandler),
		CleanInterval: -1,
	})
	if err != nil {
		t.Fatal(err)
	}
	md, err := meta.Open(ls)
	if err != nil {
		t.Fatal(err)
	}
	users, err := auth.Open(t.Context(), md)
	if err != nil {
		t.Fatal(err)
	}
	transient, err := logstore.Open(fs.NewMem(), "transient", logstore.Options{
		Logger:        slog.New(slog.DiscardHandler),
		CleanInterval: -1,
		Fsync:         logstore.FsyncPolicy{Mode: logstore.FsyncNever},
	})
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(testWriter{t}, nil))
	hosts, err := vhost.Open(vhost.Options{Store: ls, Transient: transient, Meta: md, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := &listener{
		srv:   amqp.New(cfg, users, hosts, logger),
		hosts: hosts,
		users: users,
		addr:  ln.Addr().String(),
		done:  make(chan error, 1),
	}
	go func() { l.done <- l.srv.Serve(ln) }()
	t.Cleanup(func() {
		l.srv.Close()
		select {
		case err := <-l.done:
			if !errors.Is(err, amqp.ErrClosed) {
				t.Errorf("Serve: %v, want ErrClosed", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("Serve did not return after Close")
		}
		hosts.Close()
		transient.Close()
		md.Close()
		ls.Close()
	})
	return l
}

// testWriter sends log lines to t.Log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func dial(t *testing.T, url string, cfg amqp091.Config) (*amqp091.Connection, error) {
	t.Helper()
	cfg.Dial = amqp091.DefaultDial(5 * time.Second)
	c, err := amqp091.DialConfig(url, cfg)
	if err == nil {
		t.Cleanup(func() { c.Close() })
	}
	return c, err
}

func TestDialAndChannels(t *testing.T) {
	l := startListener(t, amqp.Config{})
	conn, err := dial(t, l.url("guest", "guest", "/"), amqp091.Config{})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	if got := conn.Properties["product"]; got != "Loft" {
		t.Errorf("product = %v, want Loft", got)
	}
	caps, _ := conn.Properties["capabilities"].(amqp091.Table)
	for _, k := range []string{"publisher_confirms", "exchange_exchange_bindings", "basic.nack",
		"consumer_cancel_notify", "connection.blocked", "authentication_failure_close",
		"per_consumer_qos", "direct_reply_to"} {
		if caps[k] != true {
			t.Errorf("capability %s = %v, want true", k, caps[k])
		}
	}
	if conn.Config.FrameSize != amqp.DefaultFrameMax || conn.Config.ChannelMax != amqp.DefaultChannelMax {
		t.Errorf("tuned frame_max %d channel_max %d", conn.Config.FrameSize, conn.Config.ChannelMax)
	}
	var chans []*amqp091.Channel
	for range 5 {
		ch, err := conn.Channel()
		if err != nil {
			t.Fatalf("Channel: %v", err)
		}
		chans = append(chans, ch)
	}
	if err := chans[1].Flow(false); err != nil {
		t.Errorf("Flow: %v", err)
	}
	for _, ch := range chans {
		if err := ch.Close(); err != nil {
			t.Errorf("channel Close: %v", err)
		}
	}
	if _, err := conn.Channel(); err != nil {
		t.Fatalf("Channel after closes: %v", err)
	}
	if err := conn.Close(); err != nil {
		t.Fatalf("conn Close: %v", err)
	}
}

func TestRefusedConnections(t *testing.T) {
	l := startListener(t, amqp.Config{})
	ctx := t.Context()
	if err := l.users.AddUser(ctx, "bob", "secret", nil); err != nil {
		t.Fatal(err)
	}
	if err := l.users.AddVhost(ctx, "private", "", nil); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		url  string
		code int
	}{
		{"wrong password", l.url("guest", "nope", "/"), amqp091.AccessRefused},
		{"unknown user", l.url("nobody", "x", "/"), amqp091.AccessRefused},
		{"no access to vhost", l.url("bob", "secret", "private"), amqp091.NotAllowed},
		{"unknown vhost", l.url("guest", "guest", "nowhere"), amqp091.NotAllowed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := dial(t, tt.url, amqp091.Config{})
			if err == nil {
				t.Fatal("dial succeeded")
			}
			var e *amqp091.Error
			if errors.As(err, &e) {
				if e.Code != tt.code {
					t.Errorf("code %d (%s), want %d", e.Code, e.Reason, tt.code)
				}
			} else if tt.code != amqp091.AccessRefused || !errors.Is(err, amqp091.ErrCredentials) {
				t.Errorf("err = %v, want code %d", err, tt.code)
			}
		})
	}
}

func TestWrongProtocolHeader(t *testing.T) {
	l := startListener(t, amqp.Config{})
	nc, err := net.Dial("tcp", l.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := nc.Write([]byte("HTTP/1.1 GET / \r\n")); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(nc)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if string(got) != frame.ProtocolHeader {
		t.Errorf("got %q, want %q", got, frame.ProtocolHeader)
	}
}

func TestHeartbeats(t *testing.T) {
	l := startListener(t, amqp.Config{})
	conn, err := dial(t, l.url("guest", "guest", "/"), amqp091.Config{Heartbeat: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	closed := conn.NotifyClose(make(chan *amqp091.Error, 1))
	select {
	case e := <-closed:
		t.Fatalf("connection closed: %v", e)
	case <-time.After(3 * time.Second):
	}
	if conn.IsClosed() {
		t.Fatal("connection closed")
	}
	if _, err := conn.Channel(); err != nil {
		t.Fatalf("Channel: %v", err)
	}
}

// TestMissedHeartbeats is a raw client that goes quiet after tune-ok with
// a 1 s heartbeat: the server sends heartbeats, then closes the socket.
func TestMissedHeartbeats(t *testing.T) {
	l := startListener(t, amqp.Config{})
	nc, err := net.Dial("tcp", l.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	rd := bufio.NewReader(nc)
	io.WriteString(nc, frame.ProtocolHeader)
	readMethod[*frame.ConnectionStart](t, rd)
	writeMethod(t, nc, &frame.ConnectionStartOK{Mechanism: "PLAIN", Response: "\x00guest\x00guest", Locale: "en_US"})
	readMethod[*frame.ConnectionTune](t, rd)
	writeMethod(t, nc, &frame.ConnectionTuneOK{ChannelMax: 10, FrameMax: 4096, Heartbeat: 1})
	writeMethod(t, nc, &frame.ConnectionOpen{VirtualHost: "/"})
	readMethod[*frame.ConnectionOpenOK](t, rd)
	start := time.Now()
	var heartbeats int
	for {
		f, err := frame.Read(rd, 4096)
		if err != nil {
			break
		}
		if f.Type == frame.FrameHeartbeat {
			heartbeats++
		}
	}
	took := time.Since(start)
	if heartbeats == 0 {
		t.Error("no heartbeats received")
	}
	if took < 1500*time.Millisecond || took > 4*time.Second {
		t.Errorf("closed after %v, want about 2 s", took)
	}
}

func readMethod[M frame.Method](t *testing.T, rd *bufio.Reader) M {
	t.Helper()
	for {
		f, err := frame.Read(rd, 1<<20)
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		if f.Type == frame.FrameHeartbeat {
			continue
		}
		m, err := f.Method()
		if err != nil {
			t.Fatal(err)
		}
		mm, ok := m.(M)
		if !ok {
			t.Fatalf("got %s (%+v)", m.Name(), m)
		}
		return mm
	}
}

func writeMethod(t *testing.T, w io.Writer, m frame.Method) {
	t.Helper()
	f, err := frame.MethodFrame(0, m)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Write(w); err != nil {
		t.Fatal(err)
	}
}

func TestChannelErrorKeepsConnection(t *testing.T) {
	l := startListener(t, amqp.Config{})
	conn, err := dial(t, l.url("guest", "guest", "/"), amqp091.Config{})
	if err != nil {
		t.Fatal(err)
	}
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	_, err = ch.QueueDeclarePassive("no-such-queue", false, false, false, false, nil)
	var e *amqp091.Error
	if !errors.As(err, &e) || e.Code != amqp091.NotFound || !e.Server || !strings.Contains(e.Reason, "no queue 'no-such-queue' in vhost '/'") {
		t.Fatalf("passive QueueDeclare: %v, want a 404 channel error", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !ch.IsClosed() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if !ch.IsClosed() {
		t.Error("channel still open")
	}
	if conn.IsClosed() {
		t.Fatal("connection closed")
	}
	ch2, err := conn.Channel()
	if err != nil {
		t.Fatalf("Channel after the error: %v", err)
	}
	if err := ch2.Close(); err != nil {
		t.Error(err)
	}
}

func TestCloseSendsConnectionForced(t *testing.T) {
	l := startListener(t, amqp.Config{})
	conn, err := dial(t, l.url("guest", "guest", "/"), amqp091.Config{})
	if err != nil {
		t.Fatal(err)
	}
	closed := conn.NotifyClose(make(chan *amqp091.Error, 1))
	done := make(chan struct{})
	go func() { l.srv.Close(); close(done) }()
	select {
	case e := <-closed:
		if e == nil || e.Code != amqp091.ConnectionForced {
			t.Errorf("close = %v, want 320", e)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no connection.close received")
	}
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return")
	}
}

func TestBadFrames(t *testing.T) {
	l := startListener(t, amqp.Config{})
	tests := []struct {
		name string
		send func(w io.Writer)
		code uint16
	}{
		{"method on unopened channel", func(w io.Writer) {
			f, _ := frame.MethodFrame(3, &frame.ChannelFlow{Active: true})
			f.Write(w)
		}, frame.ChannelError},
		{"channel method on channel 0", func(w io.Writer) {
			f, _ := frame.MethodFrame(0, &frame.ChannelFlow{Active: true})
			f.Write(w)
		}, frame.ChannelError},
		{"oversized frame", func(w io.Writer) {
			frame.Frame{Type: frame.FrameMethod, Channel: 1, Payload: make([]byte, 5000)}.Write(w)
		}, frame.FrameError},
		{"garbage method", func(w io.Writer) {
			frame.Frame{Type: frame.FrameMethod, Channel: 0, Payload: []byte{0, 10}}.Write(w)
		}, frame.SyntaxError},
		{"reopened channel", func(w io.Writer) {
			f, _ := frame.MethodFrame(1, &frame.ChannelOpen{})
			f.Write(w)
			f.Write(w)
		}, frame.ChannelError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			nc, err := net.Dial("tcp", l.addr)
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			nc.SetDeadline(time.Now().Add(5 * time.Second))
			rd := bufio.NewReader(nc)
			io.WriteString(nc, frame.ProtocolHeader)
			readMethod[*frame.ConnectionStart](t, rd)
			writeMethod(t, nc, &frame.ConnectionStartOK{Mechanism: "PLAIN", Response: "\x00guest\x00guest"})
			readMethod[*frame.ConnectionTune](t, rd)
			writeMethod(t, nc, &frame.ConnectionTuneOK{FrameMax: 4096})
			writeMethod(t, nc, &frame.ConnectionOpen{VirtualHost: "/"})
			readMethod[*frame.ConnectionOpenOK](t, rd)
			tt.send(nc)
			for {
				f, err := frame.Read(rd, 1<<20)
				if err != nil {
					t.Fatalf("read: %v", err)
				}
				m, err := f.Method()
				if err != nil {
					t.Fatal(err)
				}
				if _, ok := m.(*frame.ChannelOpenOK); ok {
					continue
				}
				cl, ok := m.(*frame.ConnectionClose)
				if !ok {
					t.Fatalf("got %s", m.Name())
				}
				if cl.ReplyCode != tt.code {
					t.Errorf("close %d %q, want %d", cl.ReplyCode, cl.ReplyText, tt.code)
				}
				break
			}
			writeMethod(t, nc, &frame.ConnectionCloseOK{})
			// After a framing error the server cannot tell where the next
			// frame starts, so it may close with the oversized payload
			// unread: a reset, not EOF.
			if _, err := rd.ReadByte(); err != io.EOF && !errors.Is(err, syscall.ECONNRESET) {
				t.Errorf("after close-ok: %v, want EOF", err)
			}
		})
	}
}

func TestFrameMaxTooSmall(t *testing.T) {
	l := startListener(t, amqp.Config{})
	nc, err := net.Dial("tcp", l.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(5 * time.Second))
	rd := bufio.NewReader(nc)
	io.WriteString(nc, frame.ProtocolHeader)
	readMethod[*frame.ConnectionStart](t, rd)
	writeMethod(t, nc, &frame.ConnectionStartOK{Mechanism: "AMQPLAIN",
		Response: "\x05LOGINS\x00\x00\x00\x05guest\x08PASSWORDS\x00\x00\x00\x05guest"})
	readMethod[*frame.ConnectionTune](t, rd)
	writeMethod(t, nc, &frame.ConnectionTuneOK{FrameMax: 1024})
	cl := readMethod[*frame.ConnectionClose](t, rd)
	if cl.ReplyCode != frame.FrameError || !strings.Contains(cl.ReplyText, "frame_max too small") {
		t.Errorf("close %d %q", cl.ReplyCode, cl.ReplyText)
	}
}
