package kafka

// DeleteRecords: v0-2
//
// Moves a partition's log start offset up to the given offset (-1: the high
// watermark), durably; whole segments below it are deleted. An offset
// above the high watermark is OFFSET_OUT_OF_RANGE. The response carries the
// new low watermark (-1 with an error). TimeoutMillis is not needed.
//
// Version notes:
//   - v1: ThrottleMillis
//   - v2: flexible

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (s *Server) handleDeleteRecords(r *request) kmsg.Response {
	req := r.kreq.(*kmsg.DeleteRecordsRequest)
	resp := req.ResponseKind().(*kmsg.DeleteRecordsResponse)
	resp.Topics = make([]kmsg.DeleteRecordsResponseTopic, len(req.Topics))
	for i, rt := range req.Topics {
		st := &resp.Topics[i]
		*st = kmsg.NewDeleteRecordsResponseTopic()
		st.Topic = rt.Topic
		t, topicOK := s.broker.Topic(rt.Topic)
		st.Partitions = make([]kmsg.DeleteRecordsResponseTopicPartition, len(rt.Partitions))
		for j, rp := range rt.Partitions {
			sp := &st.Partitions[j]
			*sp = kmsg.NewDeleteRecordsResponseTopicPartition()
			sp.Partition, sp.LowWatermark = rp.Partition, -1
			if !topicOK {
				sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
				continue
			}
			p, ok := t.Partition(rp.Partition)
			if !ok {
				sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
				continue
			}
			low, err := p.DeleteRecordsBefore(r.ctx, rp.Offset)
			if err != nil {
				sp.ErrorCode = errCode(err)
				continue
			}
			sp.LowWatermark = low
		}
	}
	return resp
}
