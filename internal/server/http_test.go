package server

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/loftmq/loft/internal/syncbuf"
)

// TestHTTPRefusalsLogged sends the HTTP listener requests that net/http
// refuses before any handler runs, and one that declares a body over the
// limit: each gets its status and a log line naming the client, and an
// ordinary request gets none.
func TestHTTPRefusalsLogged(t *testing.T) {
	var logs syncbuf.Buffer
	srv, err := New(testConfig(t), slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	select {
	case <-srv.Ready():
	case <-time.After(10 * time.Second):
		t.Fatal("server not ready after 10s")
	}
	addr := srv.HTTPAddr().String()

	for _, tt := range []struct {
		name, req string
		status    int
		log       string // "": no line may name the client
	}{
		{"ordinary", "GET /healthz HTTP/1.1\r\nHost: loft\r\nConnection: close\r\n\r\n", http.StatusOK, ""},
		{"malformed", "GET\r\n\r\n", http.StatusBadRequest, `msg="bad request refused, closing the connection" proto=http`},
		{"headers too large", "GET /healthz HTTP/1.1\r\nHost: loft\r\nX-Pad: " + strings.Repeat("a", httpMaxHeaderBytes+8<<10) + "\r\n\r\n",
			http.StatusRequestHeaderFieldsTooLarge, `status="431 Request Header Fields Too Large"`},
		{"body too large", "PUT /api/queues/%2F/q HTTP/1.1\r\nHost: loft\r\nContent-Length: 1099511627776\r\n\r\n",
			http.StatusRequestEntityTooLarge, `msg="request body too large, refused"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			nc, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			nc.SetDeadline(time.Now().Add(10 * time.Second))
			go io.WriteString(nc, tt.req) // the server may answer before reading it all
			resp, err := http.ReadResponse(bufio.NewReader(nc), nil)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.status {
				t.Fatalf("status %s, want %d", resp.Status, tt.status)
			}
			io.Copy(io.Discard, nc) // until the server closes
			client := "client=" + nc.LocalAddr().String()
			if tt.log == "" {
				time.Sleep(200 * time.Millisecond) // a line, if any, comes as the server closes
			}
			var line string
			for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
				for _, l := range strings.Split(logs.String(), "\n") {
					if strings.Contains(l, client) {
						line = l
					}
				}
				if tt.log == "" || line != "" {
					break
				}
			}
			if tt.log == "" && line != "" || !strings.Contains(line, tt.log) {
				t.Errorf("log line for %s: %q, want one with %q", client, line, tt.log)
			}
		})
	}
}
