package server

import (
	"context"
	"log/slog"
	"os"
	"runtime/debug"
	"sync/atomic"
	"time"

	"github.com/loftmq/loft/internal/amqp"
	"github.com/loftmq/loft/internal/logstore"
	"github.com/loftmq/loft/internal/vhost"
)

// cacheBudget is the memory the queues' caches of new messages may hold
// together: a quarter of the memory high watermark, at most
// vhost.DefaultCacheBudget. The caches hold messages consumers have not
// taken, and only a publish evicts from them; were they allowed to reach
// the watermark, the memory alarm would block the very publishes that
// would shrink them, and a flood with consumers that do not ack would
// block its publishers for good. A quarter leaves room for the garbage
// collector's headroom and everything else the process holds.
func cacheBudget(watermark int64) int64 {
	if watermark <= 0 {
		return vhost.DefaultCacheBudget
	}
	return min(vhost.DefaultCacheBudget, watermark/4)
}

// unstoredBudget bounds the bytes AMQP publishers may have in flight
// between the socket and the disk, all connections together: an eighth of
// the memory high watermark, at most amqp.DefaultMaxUnstored. Each
// connection is held to 16 MiB on its own, but a few dozen publishing
// connections would otherwise add up to more than the watermark within
// one alarm check.
func unstoredBudget(watermark int64) int64 {
	if watermark <= 0 {
		return amqp.DefaultMaxUnstored
	}
	return min(amqp.DefaultMaxUnstored, watermark/8)
}

// passBufferBudget is the memory a store's logs may keep in large append
// buffers between group commits: the watermark divided by share (32 for
// the durable store, 64 for the transient one: 8 and 4 MiB of a 256 MiB
// watermark), at most logstore.DefaultPassBufferBudget. Kept without a
// bound, a flood into a
// hundred queues held 60–75 MiB of them, past a 256 MiB watermark.
func passBufferBudget(watermark, share int64) int64 {
	if watermark <= 0 {
		return logstore.DefaultPassBufferBudget
	}
	return min(logstore.DefaultPassBufferBudget, watermark/share)
}

// limitMemory gives the Go runtime a soft memory limit below the memory
// high watermark (three quarters of it), so that the garbage collector
// works harder, and returns memory to the system, before the alarm would
// block publishers for garbage alone. The quarter left is for what the
// limit does not see at once (stacks, memory being scavenged) and for a
// burst between two alarm checks: at nine tenths, a 2 GiB flood peaked at
// 247 MiB of a 256 MiB watermark. GOMEMLIMIT, if set, is the operator's
// choice and is left alone, and so is a server without a watermark. The
// returned step puts the previous limit back when the server stops.
func limitMemory(watermark int64) (undo step, set bool) {
	if watermark <= 0 || os.Getenv("GOMEMLIMIT") != "" {
		return step{}, false
	}
	prev := debug.SetMemoryLimit(watermark / 4 * 3)
	return step{"restore memory limit", func(context.Context) error {
		debug.SetMemoryLimit(prev)
		return nil
	}}, true
}

// releaseMemory returns a function that, without blocking its caller,
// makes the queues give back their caches and the runtime return the
// freed memory to the system: publishers blocked by the memory alarm
// publish nothing that would trim the caches, so without this the alarm
// could stay raised for good. One release runs at a time; a call while
// one runs does nothing.
func releaseMemory(hosts *vhost.Hosts, logger *slog.Logger) func() {
	var running atomic.Bool
	return func() {
		if !running.CompareAndSwap(false, true) {
			return
		}
		go func() {
			defer running.Store(false)
			start := time.Now()
			hosts.ReleaseCaches()
			debug.FreeOSMemory()
			logger.Info("memory alarm: queue caches released", "took", time.Since(start))
		}()
	}
}
