package kafka

// Fetch: v4-18
//
// Batches are served as the log holds them (Partition.Read copies whole
// batches from the segment files; nothing is decoded or re-encoded). The
// first batch returned for a partition may start before the fetch offset:
// it is the batch holding it, and clients skip the records before.
//
// Limits (KIP-74): MaxBytes bounds the response (itself capped at 55 MiB,
// Kafka's default fetch.max.bytes), PartitionMaxBytes each partition;
// neither is absolute for the first partition that has data,
// which always gets at least one whole batch, so that a batch larger than
// the limits cannot stall a consumer. Later partitions get only what fits.
//
// Long polling: when the data is short of MinBytes, the handler waits
// until a partition's high watermark advances (Partition.Wait channels,
// taken before reading, so no append between the read and the wait is
// missed), MaxWaitMillis passes, or the connection closes, then reads
// again. No loop polls. An error on any partition (OFFSET_OUT_OF_RANGE,
// UNKNOWN_TOPIC_OR_PARTITION, ...) answers at once, as Kafka does.
//
// OFFSET_OUT_OF_RANGE carries the log start offset and high watermark, from
// which the client resets (auto.offset.reset).
//
// Data damaged on disk (a batch whose CRC or header does not check out)
// is never sent: a fetch at an offset it held is CORRUPT_MESSAGE for that
// partition, as Kafka answers, while the data before the damage and the
// other partitions are served. The Java consumer raises it to the
// application, which may seek past (the broker's log names the damaged
// offsets); franz-go retries it unless KeepRetryableFetchErrors is set.
// Unlike other errors it does not answer at once: the fetch waits as usual,
// so a consumer retrying a damaged offset cannot spin the broker. read_committed is served
// like read_uncommitted: with no transactions, LastStableOffset is the high
// watermark and there are no aborted transactions.
//
// Fetch sessions (KIP-227) are not kept: every response has SessionID 0,
// which tells the client that no session was created, and it goes on with
// full fetch requests. A request naming a session id is answered
// FETCH_SESSION_ID_NOT_FOUND, whereupon the client starts afresh.
//
// Version notes:
//   - v4: IsolationLevel, LastStableOffset, AbortedTransactions (always none)
//   - v5: LogStartOffset
//   - v7: fetch sessions (see above), ForgottenTopics (nothing to forget)
//   - v9: CurrentLeaderEpoch: the single node's leader epoch is always 0,
//     so a larger one is UNKNOWN_LEADER_EPOCH (the client refreshes its
//     metadata and learns 0)
//   - v11: Rack (ignored: one broker), PreferredReadReplica always -1
//   - v12: flexible; LastFetchedEpoch (divergence cannot happen without
//     replication, so DivergingEpoch is never set)
//   - v13: topics by id: an unknown id is UNKNOWN_TOPIC_ID
//   - v15, v17, v18: ReplicaState, ReplicaDirectoryID, HighWatermark tags
//     are for follower brokers and ignored

import (
	"errors"
	"reflect"
	"time"

	"github.com/loftmq/loft/internal/broker"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// maxFetchBytes caps a request's MaxBytes, as Kafka's fetch.max.bytes
// (whose default this is) does: a client cannot make one response hold
// more, whatever it asks for.
const maxFetchBytes = 55 << 20

// fetchPart is one partition of a fetch and what was read for it.
type fetchPart struct {
	sp     *kmsg.FetchResponseTopicPartition
	p      *broker.Partition // nil when the partition failed to resolve
	offset int64
	max    int32
	wait   <-chan struct{}
}

func (s *Server) handleFetch(r *request) kmsg.Response {
	req := r.kreq.(*kmsg.FetchRequest)
	resp := req.ResponseKind().(*kmsg.FetchResponse)
	if req.Version >= 7 && req.SessionID != 0 {
		resp.ErrorCode = kerr.FetchSessionIDNotFound.Code
		return resp
	}
	parts, failed := s.fetchParts(req, resp)
	if failed {
		return resp
	}
	// The record batches are read into one pooled arena, returned once the
	// response is encoded: large fetches would otherwise allocate and zero
	// megabytes per request.
	arena := getBuf()
	r.sl.release = func() { putBuf(arena) }
	deadline := time.Now().Add(time.Duration(max(req.MaxWaitMillis, 0)) * time.Millisecond)
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		for i := range parts {
			if parts[i].wait == nil {
				parts[i].wait = parts[i].p.Wait()
			}
		}
		var n int
		n, failed, arena = readParts(parts, min(req.MaxBytes, maxFetchBytes), arena[:0])
		if failed || n >= int(req.MinBytes) || req.MinBytes <= 0 || len(parts) == 0 {
			return resp
		}
		left := time.Until(deadline)
		if left <= 0 {
			return resp
		}
		if timer == nil {
			timer = time.NewTimer(left)
		}
		if !waitAny(r, parts, timer.C) {
			return resp
		}
	}
}

// fetchParts resolves the requested partitions and lays out the response
// in request order. It reports whether any partition failed to resolve:
// then the response is complete and answered at once.
func (s *Server) fetchParts(req *kmsg.FetchRequest, resp *kmsg.FetchResponse) ([]fetchPart, bool) {
	var parts []fetchPart
	failed := false
	resp.Topics = make([]kmsg.FetchResponseTopic, len(req.Topics))
	for i, rt := range req.Topics {
		st := &resp.Topics[i]
		*st = kmsg.NewFetchResponseTopic()
		st.Topic, st.TopicID = rt.Topic, rt.TopicID
		var t *broker.Topic
		var terr *kerr.Error
		if req.Version >= 13 {
			var ok bool
			if t, ok = s.broker.TopicByID(rt.TopicID); !ok {
				terr = kerr.UnknownTopicID
			}
		} else {
			var ok bool
			if t, ok = s.broker.Topic(rt.Topic); !ok {
				terr = kerr.UnknownTopicOrPartition
			}
		}
		st.Partitions = make([]kmsg.FetchResponseTopicPartition, len(rt.Partitions))
		for j, rp := range rt.Partitions {
			sp := &st.Partitions[j]
			*sp = kmsg.NewFetchResponseTopicPartition()
			sp.Partition = rp.Partition
			// librdkafka reads a null record set as a bad MessageSet size.
			sp.RecordBatches = []byte{}
			if terr == nil && rp.CurrentLeaderEpoch > 0 {
				sp.ErrorCode = kerr.UnknownLeaderEpoch.Code
				failed = true
				continue
			}
			if terr != nil {
				sp.ErrorCode = terr.Code
				failed = true
				continue
			}
			p, ok := t.Partition(rp.Partition)
			if !ok {
				sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
				failed = true
				continue
			}
			parts = append(parts, fetchPart{sp: sp, p: p, offset: rp.FetchOffset, max: rp.PartitionMaxBytes})
		}
	}
	return parts, failed
}

// readParts reads every partition afresh within the limits, into arena,
// and returns the bytes read, whether any partition failed, and the arena
// (grown if needed). Only the first partition with data may exceed the
// limits, by its first batch (KIP-74).
func readParts(parts []fetchPart, maxBytes int32, arena []byte) (int, bool, []byte) {
	total, failed := 0, false
	for i := range parts {
		fp := &parts[i]
		sp := fp.sp
		sp.RecordBatches = []byte{}
		limit := min(int(fp.max), int(maxBytes)-total)
		var err error
		start := len(arena)
		if total == 0 || limit > 0 {
			arena, err = fp.p.Read(arena, fp.offset, max(limit, 1))
		}
		data := arena[start:]
		sp.HighWatermark = fp.p.HighWatermark()
		sp.LastStableOffset = sp.HighWatermark
		sp.LogStartOffset = fp.p.LogStartOffset()
		if err != nil {
			arena = arena[:start]
			sp.ErrorCode = errCode(err)
			if !errors.Is(err, broker.ErrOffsetOutOfRange) {
				sp.HighWatermark, sp.LastStableOffset, sp.LogStartOffset = -1, -1, -1
			}
			if !errors.Is(err, broker.ErrCorruptMessage) {
				failed = true
			}
			continue
		}
		sp.ErrorCode = 0
		if total > 0 && len(data) > limit {
			arena = arena[:start]
			continue // the first batch does not fit: another time
		}
		if len(data) > 0 {
			sp.RecordBatches = data
			total += len(data)
		}
	}
	return total, failed, arena
}

// waitAny waits until a partition's wait channel closes (and renews it),
// the timer fires, or the connection ends. It reports whether to read
// again.
func waitAny(r *request, parts []fetchPart, timeout <-chan time.Time) bool {
	cases := make([]reflect.SelectCase, 0, len(parts)+2)
	cases = append(cases,
		reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(timeout)},
		reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(r.ctx.Done())})
	for _, fp := range parts {
		cases = append(cases, reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(fp.wait)})
	}
	chosen, _, _ := reflect.Select(cases)
	if chosen < 2 {
		return false
	}
	// Renew every channel that has fired, not only the chosen one, so that
	// the next wait does not return at once for an old advance.
	for i := range parts {
		select {
		case <-parts[i].wait:
			parts[i].wait = nil
		default:
		}
	}
	return true
}
