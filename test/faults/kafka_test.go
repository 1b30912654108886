package faults

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// The Kafka load: an idempotent producer with acks=all, and one member of
// a consumer group that commits what it has received after every poll.
const (
	topic       = "faults"
	group       = "faults"
	nParts      = 4
	kafkaWindow = 32 // records produced and not yet acknowledged, at most
)

// createTopic creates the topic, unless it exists.
func createTopic(ctx context.Context, addr string) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		return err
	}
	defer cl.Close()
	_, err = kadm.NewClient(cl).CreateTopic(ctx, nParts, 1, nil, topic)
	if errors.Is(err, kerr.TopicAlreadyExists) {
		err = nil
	}
	return err
}

// produceKafka produces records to the partitions in turn, with acks=all
// and idempotence, at most kafkaWindow unacknowledged, until ctx ends.
// Acknowledged records are marked in l.
func produceKafka(ctx context.Context, addr string, l *ledger) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic(topic),
		kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerLinger(time.Millisecond), kgo.WithContext(ctx))
	if err != nil {
		return
	}
	window := make(chan struct{}, kafkaWindow) // a slot taken per record until its promise
	for i := 0; take(ctx, window); i++ {
		p := i % nParts
		seq := l.next(&l.parts[p])
		r := &kgo.Record{Partition: int32(p), Value: encode(p, seq)}
		cl.Produce(ctx, r, func(_ *kgo.Record, err error) {
			if err == nil {
				l.mark(&l.parts[p], seq, confirmed)
			}
			<-window
		})
	}
	// Closing fails what is still buffered; every promise has been
	// called when the window empties.
	cl.Close()
	for range kafkaWindow {
		select {
		case window <- struct{}{}:
		case <-time.After(10 * time.Second):
			l.fail("kafka producer: promises not called 10 s after the client closed")
			return
		}
	}
}

// take takes a slot of window, waiting for one, and reports whether it
// did before ctx ended (if ctx ended, no slot is held).
func take(ctx context.Context, window chan struct{}) bool {
	select {
	case window <- struct{}{}:
		if ctx.Err() == nil {
			return true
		}
		<-window
	case <-ctx.Done():
	}
	return false
}

// consumeGroup is one member of the consumer group: it polls, checks every
// record, and commits the offsets after each poll, recording those the
// broker said it took, until ctx ends.
func consumeGroup(ctx context.Context, addr string, l *ledger) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic),
		kgo.DisableAutoCommit(), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(100*time.Millisecond), kgo.WithContext(ctx))
	if err != nil {
		return
	}
	defer cl.Close() // ctx has ended: no LeaveGroup to wait for
	run := newRunOrder(nParts)
	offsets := make([]int64, nParts) // the next offset this run expects, per partition
	for ctx.Err() == nil {
		fs := cl.PollFetches(ctx)
		if fs.IsClientClosed() {
			return
		}
		again := 0
		fs.EachRecord(func(r *kgo.Record) {
			p := int(r.Partition)
			if p < 0 || p >= nParts {
				l.fail("group member: record of partition %d, which the topic does not have", p)
				return
			}
			if r.Offset < offsets[p] {
				l.fail("%s: offset %d fetched after %d in the same run", l.parts[p].name, r.Offset, offsets[p]-1)
			}
			offsets[p] = r.Offset + 1
			if _, prev, ok := l.checkDelivery(l.parts, p, r.Value, true, run); ok && prev&delivered != 0 {
				again++
			}
		})
		l.counted(0, 0, again)
		commit(ctx, cl, l)
	}
}

// commit commits the member's uncommitted offsets and records those the
// broker accepted.
func commit(ctx context.Context, cl *kgo.Client, l *ledger) {
	cl.CommitOffsetsSync(ctx, cl.UncommittedOffsets(), func(_ *kgo.Client, req *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
		if err != nil {
			return
		}
		asked := map[int32]int64{}
		for _, t := range req.Topics {
			for _, p := range t.Partitions {
				asked[p.Partition] = p.Offset
			}
		}
		for _, t := range resp.Topics {
			for _, p := range t.Partitions {
				o, ok := asked[p.Partition]
				if t.Topic == topic && p.ErrorCode == 0 && ok && p.Partition >= 0 && p.Partition < nParts {
					l.commitOK(int(p.Partition), o)
				}
			}
		}
	})
}

// checkCommitted asks a fresh client for the group's committed offsets
// (OffsetFetch) and checks them against l.
func checkCommitted(ctx context.Context, addr string, restart int, l *ledger) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		return err
	}
	defer cl.Close()
	resp, err := kadm.NewClient(cl).FetchOffsets(ctx, group)
	if err != nil {
		return fmt.Errorf("OffsetFetch after restart %d: %w", restart, err)
	}
	offsets := make([]int64, nParts)
	for p := range offsets {
		offsets[p] = -1
		if o, ok := resp.Lookup(topic, int32(p)); ok {
			if o.Err != nil {
				return fmt.Errorf("OffsetFetch after restart %d, partition %d: %w", restart, p, o.Err)
			}
			offsets[p] = o.At
		}
	}
	l.checkFetched(restart, offsets)
	return nil
}

// readAll reads every partition from its start to its end with a plain
// (group-less) consumer, checking that sequence numbers only grow with
// offsets (no duplicate, no reordering: the producer was idempotent) and
// marking each record inLog.
func readAll(ctx context.Context, addr string, l *ledger) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		return err
	}
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, topic)
	cl.Close()
	if err != nil {
		return fmt.Errorf("ListOffsets: %w", err)
	}
	start := map[int32]kgo.Offset{}
	end := make([]int64, nParts)
	for p := range nParts {
		lo, ok := ends.Lookup(topic, int32(p))
		if !ok || lo.Err != nil {
			return fmt.Errorf("ListOffsets of partition %d: %v", p, lo.Err)
		}
		end[p] = lo.Offset
		start[int32(p)] = kgo.NewOffset().AtStart()
	}
	cl, err = kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: start}),
		kgo.FetchMaxWait(100*time.Millisecond))
	if err != nil {
		return err
	}
	defer cl.Close()
	next := make([]int64, nParts)
	last := make([]int64, nParts)
	for p := range last {
		last[p] = -1
	}
	for !reached(next, end) {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return fmt.Errorf("reading the topic back: %v; reached %v of %v", ctx.Err(), next, end)
		}
		fs.EachRecord(func(r *kgo.Record) {
			p := int(r.Partition)
			next[p] = r.Offset + 1
			i, seq, ok := decode(r.Value)
			l.mu.Lock()
			defer l.mu.Unlock()
			s := &l.parts[p]
			switch {
			case !ok || i != p || seq >= int64(len(s.state)):
				l.failLocked("%s: offset %d holds a record that was never produced there", s.name, r.Offset)
			case seq <= last[p]:
				l.failLocked("%s: offset %d holds record %d, after record %d: duplicated or out of order", s.name, r.Offset, seq, last[p])
			default:
				last[p] = seq
				s.state[seq] |= inLog
			}
		})
	}
	return nil
}

func reached(next, end []int64) bool {
	for p := range next {
		if next[p] < end[p] {
			return false
		}
	}
	return true
}
