package amqp

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/loftmq/loft/internal/amqp/frame"
)

// What the HTTP API shows of open connections, channels and consumers:
// copies made under the connections' locks.

// ConnInfo is an open connection.
type ConnInfo struct {
	Name        string // "peer -> local", as RabbitMQ names connections
	User, Vhost string
	Peer, Local string
	Client      string // client_properties' product
	Channels    int
	ConnectedAt time.Time
	Heartbeat   time.Duration
	FrameMax    uint32
	ChannelMax  uint16
}

// ChannelInfo is an open channel.
type ChannelInfo struct {
	Connection  string // the connection's Name
	Number      uint16
	User, Vhost string
	Consumers   int
	Unacked     int
	Prefetch    uint16
	Confirm     bool
}

// ConsumerInfo is a consumer.
type ConsumerInfo struct {
	Connection  string
	Channel     uint16
	Tag, Queue  string
	Vhost       string
	AckRequired bool
	Prefetch    int
}

func (c *conn) name() string {
	return fmt.Sprintf("%s -> %s", c.remote, c.nc.LocalAddr())
}

// opened returns the open connections, by name.
func (s *Server) opened() []*conn {
	b := &s.block
	b.mu.Lock()
	cs := make([]*conn, 0, len(b.conns))
	for c := range b.conns {
		cs = append(cs, c)
	}
	b.mu.Unlock()
	slices.SortFunc(cs, func(a, b *conn) int { return strings.Compare(a.name(), b.name()) })
	return cs
}

// Connections returns the open connections.
func (s *Server) Connections() []ConnInfo {
	var out []ConnInfo
	for _, c := range s.opened() {
		client, _ := c.client.(string)
		c.omu.Lock()
		n := len(c.channels)
		c.omu.Unlock()
		out = append(out, ConnInfo{Name: c.name(), User: c.user, Vhost: c.vhost, Peer: c.remote.String(),
			Local: c.nc.LocalAddr().String(), Client: client, Channels: n, ConnectedAt: c.openedAt,
			Heartbeat: c.heartbeat, FrameMax: c.frameMax, ChannelMax: c.channelMax})
	}
	return out
}

// Channels returns the open channels.
func (s *Server) Channels() []ChannelInfo {
	var out []ChannelInfo
	for _, c := range s.opened() {
		c.omu.Lock()
		for _, ch := range c.channels {
			unacked := len(ch.unacked)
			out = append(out, ChannelInfo{Connection: c.name(), Number: ch.id, User: c.user, Vhost: c.vhost,
				Consumers: len(ch.consumers), Unacked: unacked, Prefetch: ch.prefetch,
				Confirm: ch.confirms.on})
		}
		c.omu.Unlock()
	}
	slices.SortStableFunc(out, func(a, b ChannelInfo) int {
		if a.Connection != b.Connection {
			return strings.Compare(a.Connection, b.Connection)
		}
		return int(a.Number) - int(b.Number)
	})
	return out
}

// Consumers returns the consumers of every open channel.
func (s *Server) Consumers() []ConsumerInfo {
	var out []ConsumerInfo
	for _, c := range s.opened() {
		c.omu.Lock()
		for _, ch := range c.channels {
			for _, cs := range ch.consumers {
				q := replyQueue
				if cs.q != nil {
					q = cs.q.Name
				}
				out = append(out, ConsumerInfo{Connection: c.name(), Channel: ch.id, Tag: cs.tag, Queue: q,
					Vhost: c.vhost, AckRequired: !cs.noAck, Prefetch: cs.prefetch})
			}
		}
		c.omu.Unlock()
	}
	return out
}

// CloseConnection closes the named connection with connection.close 320
// CONNECTION_FORCED and reason, as RabbitMQ's management API does; false
// if there is none.
func (s *Server) CloseConnection(name, reason string) bool {
	for _, c := range s.opened() {
		if c.name() == name {
			c.log.Info("closing connection", "reason", reason)
			c.startClose(&Error{Code: frame.ConnectionForced, Text: reason, Conn: true})
			return true
		}
	}
	return false
}
