package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/loftmq/loft/internal/amqp/frame"
)

// The null AMQP broker is the ceiling an AMQP 0-9-1 broker can reach on
// this machine through amqp091-go: a process that speaks just enough of
// the protocol for the harness's workloads, keeps messages in memory,
// confirms every publish as soon as its body has arrived and stores
// nothing. Whatever throughput and latency it reaches is the client
// library's and the kernel's cost alone; a broker that stores messages
// cannot do better on the same machine. It runs as `bench null-amqp`, a
// process of its own like every broker.

// nullAMQPMain runs the null broker until its listener fails or SIGTERM.
func nullAMQPMain(args []string) int {
	fs := flag.NewFlagSet("null-amqp", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:5672", "listen address")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "null-amqp:", err)
		return 1
	}
	b := &nullBroker{queues: map[string]*nullQueue{}, fanouts: map[string][]*nullQueue{}}
	for {
		nc, err := ln.Accept()
		if err != nil {
			fmt.Fprintln(os.Stderr, "null-amqp:", err)
			return 1
		}
		go b.serve(nc)
	}
}

// startNullAMQP runs the null broker as a child process of the harness.
func startNullAMQP(ctx context.Context, dir string) (*running, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	ports, err := freePorts(1)
	if err != nil {
		return nil, err
	}
	addr := "127.0.0.1:" + strconv.Itoa(ports[0])
	p, err := startProc("null-amqp", exec.Command(self, "null-amqp", "-addr", addr), filepath.Join(dir, "null-amqp.log"))
	if err != nil {
		return nil, err
	}
	r := &running{client: &amqpClient{url: "amqp://guest:guest@" + addr + "/"}, procs: []*proc{p}}
	if err := p.waitReady(ctx, 30*time.Second, func() error {
		r.version, err = serverVersion(r.client.(*amqpClient).url)
		return err
	}); err != nil {
		_ = r.stop()
		return nil, err
	}
	return r, nil
}

type nullBroker struct {
	mu      sync.Mutex
	queues  map[string]*nullQueue
	fanouts map[string][]*nullQueue // fanout exchange → bound queues
}

type nullQueue struct {
	msgs      []nullMsg
	consumers []*nullChannel
	next      int // round robin over consumers
}

// nullMsg is a message as published: its content header frame's payload
// and its body.
type nullMsg struct {
	header []byte
	body   []byte
}

// nullConn is one client connection: frames are read on its own goroutine
// and written by another from out, so that deliveries and confirms made
// while the socket is busy leave in one write, the confirms of a channel
// as one multiple ack (as Loft and RabbitMQ send them).
type nullConn struct {
	b        *nullBroker
	nc       net.Conn
	frameMax uint32

	mu       sync.Mutex
	out      []byte
	confirms map[uint16]uint64 // per channel, the publishes to confirm up to, with one multiple ack
	wake     chan struct{}
	closed   bool
	channels map[uint16]*nullChannel
}

// nullChannel is a channel: publishing state, and the one consumer the
// harness opens on a channel.
type nullChannel struct {
	c       *nullConn
	id      uint16
	confirm bool
	seq     uint64 // last publish sequence number confirmed

	pub     *frame.BasicPublish // the publish whose content is arriving
	header  []byte
	body    []byte
	bodyLen uint64

	// Consumer state, guarded by the broker's mu.
	queue    *nullQueue
	tag      string
	prefetch int
	unacked  map[uint64]struct{}
	delivery uint64
}

func (b *nullBroker) serve(nc net.Conn) {
	defer nc.Close()
	c := &nullConn{b: b, nc: nc, frameMax: 128 << 10, wake: make(chan struct{}, 1),
		confirms: map[uint16]uint64{}, channels: map[uint16]*nullChannel{}}
	rd := bufio.NewReaderSize(nc, 64<<10)
	hdr := make([]byte, 8)
	if _, err := io.ReadFull(rd, hdr); err != nil {
		return
	}
	if reply, err := frame.CheckProtocolHeader(hdr); err != nil {
		nc.Write(reply)
		return
	}
	done := make(chan struct{})
	go c.writeLoop(done)
	defer func() {
		c.mu.Lock()
		c.closed = true
		c.mu.Unlock()
		c.signal()
		<-done
		b.mu.Lock()
		for _, ch := range c.channels {
			b.cancel(ch)
		}
		b.mu.Unlock()
	}()
	c.send(0, &frame.ConnectionStart{VersionMajor: 0, VersionMinor: 9,
		ServerProperties: frame.Table{
			{Key: "product", Value: "null-amqp"},
			{Key: "version", Value: "1"},
			{Key: "capabilities", Value: frame.Table{
				{Key: "publisher_confirms", Value: true},
				{Key: "basic.nack", Value: true},
				{Key: "consumer_cancel_notify", Value: true},
				{Key: "per_consumer_qos", Value: true},
			}},
		},
		Mechanisms: "PLAIN AMQPLAIN", Locales: "en_US"})
	for {
		f, err := frame.Read(rd, c.frameMax)
		if err != nil {
			return
		}
		if err := c.handle(f); err != nil {
			if !errors.Is(err, io.EOF) {
				fmt.Fprintln(os.Stderr, "null-amqp:", err)
			}
			return
		}
	}
}

// send queues a method frame.
func (c *nullConn) send(channel uint16, m frame.Method) {
	c.mu.Lock()
	c.out = appendMethod(c.out, channel, m)
	c.mu.Unlock()
	c.signal()
}

func appendMethod(buf []byte, channel uint16, m frame.Method) []byte {
	f, err := frame.MethodFrame(channel, m)
	if err != nil {
		panic(err) // the null broker's own methods always encode
	}
	return f.Append(buf)
}

func (c *nullConn) signal() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// writeLoop writes what has been queued, all of it in one write, and a
// heartbeat every few seconds so that the client never times out.
func (c *nullConn) writeLoop(done chan struct{}) {
	defer close(done)
	var buf []byte
	tick := time.NewTicker(3 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-c.wake:
		case <-tick.C:
			c.mu.Lock()
			c.out = frame.Heartbeat.Append(c.out)
			c.mu.Unlock()
		}
		c.mu.Lock()
		for ch, seq := range c.confirms {
			c.out = appendMethod(c.out, ch, &frame.BasicAck{DeliveryTag: seq, Multiple: true})
		}
		clear(c.confirms)
		buf, c.out = c.out, buf[:0]
		closed := c.closed
		c.mu.Unlock()
		if len(buf) > 0 {
			if _, err := c.nc.Write(buf); err != nil {
				c.nc.Close()
				return
			}
		}
		if closed {
			return
		}
	}
}

var errNullClosed = fmt.Errorf("connection closed: %w", io.EOF)

func (c *nullConn) handle(f frame.Frame) error {
	switch f.Type {
	case frame.FrameHeartbeat:
		return nil
	case frame.FrameHeader:
		ch := c.channels[f.Channel]
		if ch == nil || ch.pub == nil {
			return fmt.Errorf("content header without basic.publish on channel %d", f.Channel)
		}
		h, err := f.Header()
		if err != nil {
			return err
		}
		ch.header, ch.bodyLen, ch.body = append([]byte(nil), f.Payload...), h.BodySize, nil
		if h.BodySize == 0 {
			c.published(ch)
		}
		return nil
	case frame.FrameBody:
		ch := c.channels[f.Channel]
		if ch == nil || ch.header == nil {
			return fmt.Errorf("body frame without a content header on channel %d", f.Channel)
		}
		ch.body = append(ch.body, f.Payload...)
		if uint64(len(ch.body)) >= ch.bodyLen {
			c.published(ch)
		}
		return nil
	case frame.FrameMethod:
	default:
		return fmt.Errorf("frame type %d", f.Type)
	}
	m, err := f.Method()
	if err != nil {
		return err
	}
	ch := c.channels[f.Channel]
	switch m := m.(type) {
	case *frame.ConnectionStartOK:
		c.send(0, &frame.ConnectionTune{ChannelMax: 2047, FrameMax: c.frameMax, Heartbeat: 10})
	case *frame.ConnectionTuneOK:
		if m.FrameMax >= frame.FrameMinSize && m.FrameMax < c.frameMax {
			c.frameMax = m.FrameMax
		}
	case *frame.ConnectionOpen:
		c.send(0, &frame.ConnectionOpenOK{})
	case *frame.ConnectionClose:
		c.send(0, &frame.ConnectionCloseOK{})
		return errNullClosed
	case *frame.ChannelOpen:
		c.b.mu.Lock()
		c.channels[f.Channel] = &nullChannel{c: c, id: f.Channel, unacked: map[uint64]struct{}{}}
		c.b.mu.Unlock()
		c.send(f.Channel, &frame.ChannelOpenOK{})
	case *frame.ChannelClose:
		c.b.mu.Lock()
		if ch != nil {
			c.b.cancel(ch)
		}
		delete(c.channels, f.Channel)
		c.b.mu.Unlock()
		c.mu.Lock() // confirms still owed go before the close-ok
		if seq, ok := c.confirms[f.Channel]; ok {
			c.out = appendMethod(c.out, f.Channel, &frame.BasicAck{DeliveryTag: seq, Multiple: true})
			delete(c.confirms, f.Channel)
		}
		c.mu.Unlock()
		c.send(f.Channel, &frame.ChannelCloseOK{})
	case *frame.ChannelCloseOK:
	case *frame.ConfirmSelect:
		ch.confirm = true
		if !m.NoWait {
			c.send(f.Channel, &frame.ConfirmSelectOK{})
		}
	case *frame.BasicQos:
		c.b.mu.Lock()
		ch.prefetch = int(m.PrefetchCount)
		c.b.mu.Unlock()
		c.send(f.Channel, &frame.BasicQosOK{})
	case *frame.ExchangeDeclare:
		c.b.mu.Lock()
		if _, ok := c.b.fanouts[m.Exchange]; !ok {
			c.b.fanouts[m.Exchange] = nil
		}
		c.b.mu.Unlock()
		c.send(f.Channel, &frame.ExchangeDeclareOK{})
	case *frame.ExchangeDelete:
		c.b.mu.Lock()
		delete(c.b.fanouts, m.Exchange)
		c.b.mu.Unlock()
		c.send(f.Channel, &frame.ExchangeDeleteOK{})
	case *frame.QueueDeclare:
		c.b.mu.Lock()
		q := c.b.queue(m.Queue)
		n, consumers := len(q.msgs), len(q.consumers)
		c.b.mu.Unlock()
		c.send(f.Channel, &frame.QueueDeclareOK{Queue: m.Queue, MessageCount: uint32(n), ConsumerCount: uint32(consumers)})
	case *frame.QueueBind:
		c.b.mu.Lock()
		c.b.fanouts[m.Exchange] = append(c.b.fanouts[m.Exchange], c.b.queue(m.Queue))
		c.b.mu.Unlock()
		c.send(f.Channel, &frame.QueueBindOK{})
	case *frame.QueueDelete:
		c.b.mu.Lock()
		n := 0
		if q := c.b.queues[m.Queue]; q != nil {
			n = len(q.msgs)
			for _, consumer := range q.consumers {
				consumer.queue = nil
				consumer.c.send(consumer.id, &frame.BasicCancel{ConsumerTag: consumer.tag, NoWait: true})
			}
		}
		delete(c.b.queues, m.Queue)
		c.b.mu.Unlock()
		c.send(f.Channel, &frame.QueueDeleteOK{MessageCount: uint32(n)})
	case *frame.BasicConsume:
		c.b.mu.Lock()
		q := c.b.queue(m.Queue)
		ch.queue, ch.tag = q, m.ConsumerTag
		if ch.tag == "" {
			ch.tag = fmt.Sprintf("null-%p", ch)
		}
		q.consumers = append(q.consumers, ch)
		c.send(f.Channel, &frame.BasicConsumeOK{ConsumerTag: ch.tag})
		c.b.deliver(q)
		c.b.mu.Unlock()
	case *frame.BasicPublish:
		ch.pub = m
	case *frame.BasicAck:
		c.b.mu.Lock()
		if m.Multiple {
			for tag := range ch.unacked {
				if tag <= m.DeliveryTag {
					delete(ch.unacked, tag)
				}
			}
		} else {
			delete(ch.unacked, m.DeliveryTag)
		}
		if ch.queue != nil {
			c.b.deliver(ch.queue)
		}
		c.b.mu.Unlock()
	default:
		return fmt.Errorf("%s is not something the null broker does", m.Name())
	}
	return nil
}

// queue returns the queue called name, declaring it. The caller holds mu.
func (b *nullBroker) queue(name string) *nullQueue {
	q := b.queues[name]
	if q == nil {
		q = &nullQueue{}
		b.queues[name] = q
	}
	return q
}

// published routes the message whose content has arrived on ch and
// confirms it.
func (c *nullConn) published(ch *nullChannel) {
	msg := nullMsg{header: ch.header, body: ch.body}
	exchange, key := ch.pub.Exchange, ch.pub.RoutingKey
	ch.pub, ch.header, ch.body = nil, nil, nil
	c.b.mu.Lock()
	var targets []*nullQueue
	if exchange == "" {
		if q := c.b.queues[key]; q != nil {
			targets = []*nullQueue{q}
		}
	} else {
		targets = c.b.fanouts[exchange]
	}
	for _, q := range targets {
		q.msgs = append(q.msgs, msg)
		c.b.deliver(q)
	}
	c.b.mu.Unlock()
	if ch.confirm {
		ch.seq++
		c.mu.Lock()
		c.confirms[ch.id] = ch.seq
		c.mu.Unlock()
		c.signal()
	}
}

// deliver hands q's messages to its consumers with room under their
// prefetch, round robin. The caller holds mu.
func (b *nullBroker) deliver(q *nullQueue) {
	for len(q.msgs) > 0 {
		var to *nullChannel
		for range q.consumers {
			ch := q.consumers[q.next%len(q.consumers)]
			q.next++
			if ch.prefetch == 0 || len(ch.unacked) < ch.prefetch {
				to = ch
				break
			}
		}
		if to == nil {
			return
		}
		m := q.msgs[0]
		q.msgs[0] = nullMsg{}
		q.msgs = q.msgs[1:]
		to.delivery++
		to.unacked[to.delivery] = struct{}{}
		c := to.c
		c.mu.Lock()
		c.out = appendMethod(c.out, to.id, &frame.BasicDeliver{ConsumerTag: to.tag, DeliveryTag: to.delivery, RoutingKey: ""})
		c.out = frame.Frame{Type: frame.FrameHeader, Channel: to.id, Payload: m.header}.Append(c.out)
		for body, max := m.body, frame.MaxBodyPayload(c.frameMax); len(body) > 0; {
			n := min(len(body), max)
			c.out = frame.BodyFrame(to.id, body[:n]).Append(c.out)
			body = body[n:]
		}
		c.mu.Unlock()
		c.signal()
	}
}

// cancel removes ch's consumer from its queue. The caller holds mu.
func (b *nullBroker) cancel(ch *nullChannel) {
	q := ch.queue
	if q == nil {
		return
	}
	for i, other := range q.consumers {
		if other == ch {
			q.consumers = append(q.consumers[:i], q.consumers[i+1:]...)
			break
		}
	}
	ch.queue = nil
}
