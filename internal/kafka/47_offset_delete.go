package kafka

// OffsetDelete: v0
//
// Deletes committed offsets of a group for partitions no member is
// subscribed to (GROUP_SUBSCRIBED_TO_TOPIC otherwise, decided by the
// coordinator). A partition of a topic that does not exist is
// UNKNOWN_TOPIC_OR_PARTITION, as in Kafka.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (s *Server) handleOffsetDelete(r *request) kmsg.Response {
	req := r.kreq.(*kmsg.OffsetDeleteRequest)
	resp := req.ResponseKind().(*kmsg.OffsetDeleteResponse)
	topics := make(map[string][]int32, len(req.Topics))
	for _, rt := range req.Topics {
		for _, rp := range rt.Partitions {
			if s.partitionExists(rt.Topic, rp.Partition) {
				topics[rt.Topic] = append(topics[rt.Topic], rp.Partition)
			}
		}
	}
	code, per := s.groups.DeleteOffsets(r.ctx, req.Group, topics)
	resp.ErrorCode = code
	if code != 0 {
		return resp
	}
	resp.Topics = make([]kmsg.OffsetDeleteResponseTopic, len(req.Topics))
	for i, rt := range req.Topics {
		st := &resp.Topics[i]
		*st = kmsg.NewOffsetDeleteResponseTopic()
		st.Topic = rt.Topic
		st.Partitions = make([]kmsg.OffsetDeleteResponseTopicPartition, len(rt.Partitions))
		for j, rp := range rt.Partitions {
			sp := &st.Partitions[j]
			*sp = kmsg.NewOffsetDeleteResponseTopicPartition()
			sp.Partition = rp.Partition
			if !s.partitionExists(rt.Topic, rp.Partition) {
				sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
				continue
			}
			sp.ErrorCode = per[rt.Topic][rp.Partition]
		}
	}
	return resp
}
