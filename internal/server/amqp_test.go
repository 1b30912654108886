package server

import (
	"testing"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"
)

// TestAMQPListener runs the whole server with its AMQP listener and opens
// a connection and a channel through it with a real client; stopping the
// server closes the connection with 320 CONNECTION_FORCED.
func TestAMQPListener(t *testing.T) {
	cfg := testConfig(t)
	cfg.AMQPAddr = "127.0.0.1:0"
	r := start(t, cfg)
	if r.AMQPAddr() == nil {
		t.Fatal("no AMQP address")
	}
	conn, err := amqp091.DialConfig("amqp://guest:guest@"+r.AMQPAddr().String()+"/",
		amqp091.Config{Dial: amqp091.DefaultDial(5 * time.Second)})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer conn.Close()
	if got := conn.Properties["product"]; got != "Loft" {
		t.Errorf("product = %v", got)
	}
	ch, err := conn.Channel()
	if err != nil {
		t.Fatalf("Channel: %v", err)
	}
	if err := ch.Close(); err != nil {
		t.Fatalf("channel Close: %v", err)
	}
	closed := conn.NotifyClose(make(chan *amqp091.Error, 1))
	if err := r.stop(t); err != nil {
		t.Fatalf("stop: %v", err)
	}
	select {
	case e := <-closed:
		if e == nil || e.Code != amqp091.ConnectionForced {
			t.Errorf("close = %v, want 320", e)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("connection not closed by shutdown")
	}
}
