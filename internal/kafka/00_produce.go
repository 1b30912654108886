package kafka

// Produce: v3-13
//
// Every batch is handed to broker.Partition.Produce as received (the
// broker validates it: RecordBatch v2 only, CRC, size against
// max.message.bytes, idempotence, LogAppendTime) and the response is
// written when every batch of the request is durable: acks 1 and -1 both
// answer after fsync, since this single node is the whole ISR. The reader
// goes on to the next request meanwhile, so pipelined Produce requests of
// one connection share a group commit; responses still go out in order.
//
// A partition's Records field normally holds one batch; if it holds
// several, each is appended in order and the partition answers with the
// first one's base offset (or the first error: the batches before a failed
// one stay appended, as with a failure of any later request).
//
// acks=0 gets no response; if any partition fails, the connection is
// closed once its earlier responses are out, as Kafka does, so that the
// client notices and refreshes its metadata. Acks other than -1, 0 and 1
// is INVALID_REQUIRED_ACKS. TimeoutMillis is not needed: there is no
// replication to wait for.
//
// Version notes:
//   - v3: RecordBatch v2, TransactionID (transactional batches are refused
//     by the broker with INVALID_RECORD: transactions are not served yet)
//   - v5: LogStartOffset in the response
//   - v8: ErrorMessage (ErrorRecords stay empty: a batch fails as a whole)
//   - v9: flexible
//   - v10, v11: CurrentLeader and NodeEndpoints tags, only sent with
//     NOT_LEADER_OR_FOLLOWER, which a single node never answers
//   - v12: no change for non-transactional producers (KIP-890)
//   - v13: topics by id; an unknown id is UNKNOWN_TOPIC_ID

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"

	"github.com/loftmq/loft/internal/broker"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// errDiskAlarm is why produce is refused while free disk is short.
var errDiskAlarm = errors.New("free disk space is below the broker's --disk-free-limit; retry once it is freed")

// produceCall tracks one Produce request's batches until all are done.
type produceCall struct {
	mu      sync.Mutex
	pending int // batches not done yet, plus one while the handler runs
	failed  bool
	version int16
	acks    int16
	resp    *kmsg.ProduceResponse
	sl      *slot
	// parts are the response partitions, in request order.
	parts []*kmsg.ProduceResponseTopicPartition
}

func (s *Server) handleProduce(r *request) kmsg.Response {
	req := r.kreq.(*kmsg.ProduceRequest)
	resp := req.ResponseKind().(*kmsg.ProduceResponse)
	call := &produceCall{pending: 1, version: req.Version, acks: req.Acks, resp: resp, sl: r.later()}

	// Build the whole response first, so that batch callbacks (which may
	// run at once, on this goroutine) only fill in entries that exist.
	resp.Topics = make([]kmsg.ProduceResponseTopic, len(req.Topics))
	for i, rt := range req.Topics {
		st := &resp.Topics[i]
		*st = kmsg.NewProduceResponseTopic()
		st.Topic, st.TopicID = rt.Topic, rt.TopicID
		st.Partitions = make([]kmsg.ProduceResponseTopicPartition, len(rt.Partitions))
		for j, rp := range rt.Partitions {
			sp := &st.Partitions[j]
			*sp = kmsg.NewProduceResponseTopicPartition()
			sp.Partition = rp.Partition
			call.parts = append(call.parts, sp)
		}
	}

	k := 0
	for _, rt := range req.Topics {
		t, errc := s.produceTopic(req, rt)
		for _, rp := range rt.Partitions {
			i := k
			k++
			if errc != nil {
				call.fail(i, errc, nil)
				continue
			}
			if s.refuse.Load() {
				call.fail(i, kerr.KafkaStorageError, errDiskAlarm)
				continue
			}
			p, ok := t.Partition(rp.Partition)
			if !ok {
				call.fail(i, kerr.UnknownTopicOrPartition, nil)
				continue
			}
			batches, err := splitBatches(rp.Records)
			if err != nil {
				call.fail(i, kerr.CorruptMessage, err)
				continue
			}
			call.mu.Lock()
			call.pending += len(batches)
			call.mu.Unlock()
			for j, b := range batches {
				p.Produce(b, func(res broker.ProduceResult) { call.done(i, j == 0, res) })
			}
		}
	}
	call.release()
	return nil
}

// produceTopic resolves a request topic, by name or (v13+) by id.
func (s *Server) produceTopic(req *kmsg.ProduceRequest, rt kmsg.ProduceRequestTopic) (*broker.Topic, *kerr.Error) {
	switch req.Acks {
	case -1, 0, 1:
	default:
		return nil, kerr.InvalidRequiredAcks
	}
	if req.Version >= 13 {
		t, ok := s.broker.TopicByID(rt.TopicID)
		if !ok {
			return nil, kerr.UnknownTopicID
		}
		return t, nil
	}
	t, ok := s.broker.Topic(rt.Topic)
	if !ok {
		return nil, kerr.UnknownTopicOrPartition
	}
	return t, nil
}

// fail sets partition entry i's error without a batch having run.
func (c *produceCall) fail(i int, code *kerr.Error, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.setError(i, code, err)
}

// setError records an error on entry i; the first one wins. Needs mu.
func (c *produceCall) setError(i int, code *kerr.Error, err error) {
	c.failed = true
	sp := c.parts[i]
	if sp.ErrorCode != 0 {
		return
	}
	sp.ErrorCode = code.Code
	sp.BaseOffset = -1
	if c.version >= 8 {
		if err != nil {
			sp.ErrorMessage = errMessage(err)
		} else {
			sp.ErrorMessage = &code.Description
		}
	}
}

// done records one batch's result for entry i; the first batch of an
// entry gives its offsets, later ones only their errors. It runs on
// whatever goroutine completes the append and must not block.
func (c *produceCall) done(i int, first bool, res broker.ProduceResult) {
	c.mu.Lock()
	if res.Err != nil {
		c.setError(i, kafkaErr(res.Err), res.Err)
	} else if first {
		if sp := c.parts[i]; sp.ErrorCode == 0 {
			sp.BaseOffset = res.BaseOffset
			sp.LogAppendTime = res.LogAppendTime
			sp.LogStartOffset = res.LogStartOffset
		}
	}
	c.mu.Unlock()
	c.release()
}

// release counts one completion down and, at zero, hands the response to
// the connection's writer.
func (c *produceCall) release() {
	c.mu.Lock()
	c.pending--
	last := c.pending == 0
	c.mu.Unlock()
	if !last {
		return
	}
	if c.acks == 0 {
		c.sl.closeConn = c.failed
		c.sl.finish(nil)
		return
	}
	c.sl.finish(c.resp)
}

// batchHeaderLen is the part of a RecordBatch before its records; the
// length field at offset 8 counts the bytes after the first 12.
const batchHeaderLen = 61

// splitBatches splits a partition's Records into its batches by their
// length fields, without checking anything else (the broker does). It
// refuses an empty field, or one whose lengths do not add up.
func splitBatches(records []byte) ([][]byte, error) {
	if len(records) == 0 {
		return nil, fmt.Errorf("no record batch")
	}
	var out [][]byte
	for len(records) > 0 {
		if len(records) < 12 {
			return nil, fmt.Errorf("%d bytes after the last batch", len(records))
		}
		n := int64(int32(binary.BigEndian.Uint32(records[8:12])))
		if n < batchHeaderLen-12 || n > int64(len(records)-12) {
			return nil, fmt.Errorf("batch length %d does not fit the %d bytes left", n, len(records)-12)
		}
		out = append(out, records[:12+n])
		records = records[12+n:]
	}
	return out, nil
}
