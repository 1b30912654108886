package kafka

// OffsetCommit: v0-10
//
// Offsets go to the group coordinator, which checks the member and
// generation as Kafka does (generation -1 with no member id is a simple or
// admin commit, allowed while the group has no members) and writes them
// durably (one metadata write per request, fsynced before the answer). A
// partition of a topic that does not exist is UNKNOWN_TOPIC_OR_PARTITION
// and is not committed, as in Kafka; the others still are.
//
// Version notes:
//   - v1: Generation and MemberID; a per-partition commit Timestamp
//     (ignored: offsets are kept until the group or topic goes away)
//   - v2-v4: RetentionTimeMillis (ignored, as above)
//   - v3: ThrottleMillis
//   - v6: LeaderEpoch, stored and returned by OffsetFetch
//   - v7: InstanceID (static membership)
//   - v8: flexible
//   - v10: topics by id (unknown: UNKNOWN_TOPIC_ID)

import (
	"github.com/loftmq/loft/internal/group"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (s *Server) handleOffsetCommit(r *request) kmsg.Response {
	req := r.kreq.(*kmsg.OffsetCommitRequest)
	resp := req.ResponseKind().(*kmsg.OffsetCommitResponse)

	var offsets []group.OffsetCommit
	var at []*kmsg.OffsetCommitResponseTopicPartition // response entry of each offset
	resp.Topics = make([]kmsg.OffsetCommitResponseTopic, len(req.Topics))
	for i, rt := range req.Topics {
		st := &resp.Topics[i]
		*st = kmsg.NewOffsetCommitResponseTopic()
		st.Topic, st.TopicID = rt.Topic, rt.TopicID
		name, terr := s.topicName(req.Version >= 10, rt.Topic, rt.TopicID)
		st.Partitions = make([]kmsg.OffsetCommitResponseTopicPartition, len(rt.Partitions))
		for j, rp := range rt.Partitions {
			sp := &st.Partitions[j]
			*sp = kmsg.NewOffsetCommitResponseTopicPartition()
			sp.Partition = rp.Partition
			if terr != nil {
				sp.ErrorCode = terr.Code
				continue
			}
			if !s.partitionExists(name, rp.Partition) {
				sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
				continue
			}
			offsets = append(offsets, group.OffsetCommit{
				Topic:       name,
				Partition:   rp.Partition,
				Offset:      rp.Offset,
				LeaderEpoch: rp.LeaderEpoch,
				Metadata:    rp.Metadata,
			})
			at = append(at, sp)
		}
	}
	if len(offsets) == 0 {
		return resp
	}
	code, per := s.groups.Commit(r.ctx, req.Group, req.MemberID, req.InstanceID, req.Generation, offsets)
	for i, sp := range at {
		switch {
		case code != 0:
			sp.ErrorCode = code
		case i < len(per):
			sp.ErrorCode = per[i]
		}
	}
	return resp
}

// topicName resolves a request's topic: by id when byID (an unknown id is
// UNKNOWN_TOPIC_ID), otherwise the name as given.
func (s *Server) topicName(byID bool, name string, id [16]byte) (string, *kerr.Error) {
	if !byID {
		return name, nil
	}
	t, ok := s.broker.TopicByID(id)
	if !ok {
		return "", kerr.UnknownTopicID
	}
	return t.Name(), nil
}

func (s *Server) partitionExists(topic string, partition int32) bool {
	t, ok := s.broker.Topic(topic)
	if !ok {
		return false
	}
	_, ok = t.Partition(partition)
	return ok
}
