package amqp

import (
	"sync/atomic"

	"github.com/loftmq/loft/internal/amqp/frame"
)

// Stats is what metrics report of the AMQP listener.
type Stats struct {
	// Connections counts open connections, handshakes included;
	// Channels the channels open on them.
	Connections int
	Channels    int64
	// Rejected counts the channel and connection closes the server
	// initiated, by reply code, in code order; codes never sent are left
	// out. A close for the broker's own shutdown (320 CONNECTION_FORCED)
	// is no rejection and is not counted.
	Rejected []Rejected
}

// Rejected is the count of closes with one reply code.
type Rejected struct {
	Code   uint16
	Reason string // the code's name in the spec: NOT_FOUND, ...
	Count  uint64
}

// maxReplyCode bounds the codes counted one by one; the spec's highest is
// 541. A code above it (none is sent) would count as INTERNAL_ERROR.
const maxReplyCode = 599

// counters are the listener's running counts, atomics bumped by the
// connections' goroutines.
type counters struct {
	channels atomic.Int64
	rejected [maxReplyCode + 1]atomic.Uint64 // by reply code
}

// reject counts a close the server sends with code.
func (c *counters) reject(code uint16) {
	if code == frame.ConnectionForced {
		return
	}
	if code > maxReplyCode {
		code = frame.InternalError
	}
	c.rejected[code].Add(1)
}

// Stats returns the listener's stats.
func (s *Server) Stats() Stats {
	st := Stats{Connections: s.conns.Conns(), Channels: s.stats.channels.Load()}
	for code := range s.stats.rejected {
		if n := s.stats.rejected[code].Load(); n > 0 {
			st.Rejected = append(st.Rejected, Rejected{Code: uint16(code), Reason: codeName(uint16(code)), Count: n})
		}
	}
	return st
}
