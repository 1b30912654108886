package kafka

// OffsetFetch: v0-10
//
// Committed offsets come from the group coordinator; a partition with no
// commit (or a group that does not exist) answers offset -1, leader epoch
// -1, no error, as in Kafka. A null topic list (v2+) asks for every
// committed offset of the group.
//
// Version notes:
//   - v2: null topics for all; a top-level ErrorCode (the first
//     partition-level error the coordinator reports, if any)
//   - v3: ThrottleMillis
//   - v5: LeaderEpoch
//   - v6: flexible
//   - v7: RequireStable: with no transactions no offset is ever pending,
//     so every offset is stable
//   - v8: several groups per request
//   - v9: MemberID and MemberEpoch, for KIP-848 consumer groups; only
//     classic groups exist here, for which Kafka ignores them too
//   - v10: topics by id (unknown: UNKNOWN_TOPIC_ID)

import (
	"github.com/loftmq/loft/internal/group"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// fetchTopic is one requested topic of one group, resolved to its name.
type fetchTopic struct {
	name       string
	id         [16]byte
	partitions []int32
	err        *kerr.Error
}

func (s *Server) handleOffsetFetch(r *request) kmsg.Response {
	req := r.kreq.(*kmsg.OffsetFetchRequest)
	resp := req.ResponseKind().(*kmsg.OffsetFetchResponse)
	if req.Version <= 7 {
		var topics []fetchTopic
		if req.Topics != nil || req.Version < 2 {
			topics = make([]fetchTopic, 0, len(req.Topics))
			for _, rt := range req.Topics {
				topics = append(topics, fetchTopic{name: rt.Topic, partitions: rt.Partitions})
			}
		}
		g := s.fetchOffsets(req.Group, topics)
		for _, gt := range g.Topics {
			st := kmsg.NewOffsetFetchResponseTopic()
			st.Topic = gt.Topic
			for _, gp := range gt.Partitions {
				sp := kmsg.NewOffsetFetchResponseTopicPartition()
				sp.Partition, sp.Offset, sp.LeaderEpoch = gp.Partition, gp.Offset, gp.LeaderEpoch
				sp.Metadata, sp.ErrorCode = gp.Metadata, gp.ErrorCode
				if sp.ErrorCode != 0 && resp.ErrorCode == 0 && req.Version >= 2 {
					resp.ErrorCode = sp.ErrorCode
				}
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		return resp
	}
	for _, rg := range req.Groups {
		var topics []fetchTopic
		if rg.Topics != nil {
			topics = make([]fetchTopic, 0, len(rg.Topics))
			for _, rt := range rg.Topics {
				name, err := s.topicName(req.Version >= 10, rt.Topic, rt.TopicID)
				topics = append(topics, fetchTopic{name: name, id: rt.TopicID, partitions: rt.Partitions, err: err})
			}
		}
		g := s.fetchOffsets(rg.Group, topics)
		if req.Version >= 10 {
			for i := range g.Topics {
				if g.Topics[i].TopicID == ([16]byte{}) {
					if t, ok := s.broker.Topic(g.Topics[i].Topic); ok {
						g.Topics[i].TopicID = t.ID()
					}
				}
			}
		}
		resp.Groups = append(resp.Groups, g)
	}
	return resp
}

// fetchOffsets answers one group: the partitions of topics in request
// order, or every committed offset when topics is nil.
func (s *Server) fetchOffsets(groupID string, topics []fetchTopic) kmsg.OffsetFetchResponseGroup {
	sg := kmsg.NewOffsetFetchResponseGroup()
	sg.Group = groupID
	if topics == nil {
		var last *kmsg.OffsetFetchResponseGroupTopic
		for _, c := range s.groups.Fetch(groupID, nil) {
			if last == nil || last.Topic != c.Topic {
				st := kmsg.NewOffsetFetchResponseGroupTopic()
				st.Topic = c.Topic
				sg.Topics = append(sg.Topics, st)
				last = &sg.Topics[len(sg.Topics)-1]
			}
			last.Partitions = append(last.Partitions, committedPartition(c))
		}
		return sg
	}
	want := make(map[string][]int32)
	for _, t := range topics {
		if t.err == nil {
			want[t.name] = append(want[t.name], t.partitions...)
		}
	}
	type tp struct {
		t string
		p int32
	}
	got := make(map[tp]group.CommittedOffset)
	if len(want) > 0 {
		for _, c := range s.groups.Fetch(groupID, want) {
			got[tp{c.Topic, c.Partition}] = c
		}
	}
	sg.Topics = make([]kmsg.OffsetFetchResponseGroupTopic, len(topics))
	for i, t := range topics {
		st := &sg.Topics[i]
		*st = kmsg.NewOffsetFetchResponseGroupTopic()
		st.Topic, st.TopicID = t.name, t.id
		for _, p := range t.partitions {
			c, ok := got[tp{t.name, p}]
			if !ok {
				c = group.CommittedOffset{Topic: t.name, Partition: p, Offset: -1, LeaderEpoch: -1}
			}
			sp := committedPartition(c)
			if t.err != nil {
				sp.ErrorCode = t.err.Code
			}
			st.Partitions = append(st.Partitions, sp)
		}
	}
	return sg
}

func committedPartition(c group.CommittedOffset) kmsg.OffsetFetchResponseGroupTopicPartition {
	sp := kmsg.NewOffsetFetchResponseGroupTopicPartition()
	sp.Partition, sp.Offset, sp.LeaderEpoch = c.Partition, c.Offset, c.LeaderEpoch
	sp.Metadata, sp.ErrorCode = c.Metadata, c.Err
	return sp
}
