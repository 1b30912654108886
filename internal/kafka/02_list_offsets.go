package kafka

// ListOffsets: v0-10
//
// Timestamps, as Partition.ListOffset answers them:
//   - -2 earliest (the log start offset); -4, earliest local (v8+), is the
//     same with no tiered storage
//   - -1 latest (the high watermark; also under read_committed, since with
//     no transactions the last stable offset is the high watermark)
//   - -3 max timestamp (v7+): the offset and timestamp of the record with
//     the largest timestamp
//   - -5 latest tiered (v9+): nothing is tiered, so offset -1
//   - t >= 0: the first offset whose timestamp is at or after t; offset -1
//     and timestamp -1 when there is none
//
// Any other negative timestamp, or a special one below the version that
// introduced it, is UNSUPPORTED_VERSION for that partition; a partition
// listed twice is INVALID_REQUEST for each entry (both as in Kafka).
//
// Version notes:
//   - v0: OldStyleOffsets, answered with the one offset the lookup finds
//     (Kafka listed segment boundaries, which no client relies on)
//   - v1: one offset and its timestamp per partition
//   - v2: IsolationLevel (see -1 above)
//   - v4: CurrentLeaderEpoch (always 0 here: a larger one is
//     UNKNOWN_LEADER_EPOCH), LeaderEpoch in the response (0)
//   - v6: flexible
//   - v10: TimeoutMillis, for tiered lookups: not needed

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// listOffsetsSince is the first version that accepts each special
// timestamp.
var listOffsetsSince = map[int64]int16{-1: 0, -2: 0, -3: 7, -4: 8, -5: 9}

func (s *Server) handleListOffsets(r *request) kmsg.Response {
	req := r.kreq.(*kmsg.ListOffsetsRequest)
	resp := req.ResponseKind().(*kmsg.ListOffsetsResponse)
	type tp struct {
		t string
		p int32
	}
	seen := make(map[tp]int)
	for _, rt := range req.Topics {
		for _, rp := range rt.Partitions {
			seen[tp{rt.Topic, rp.Partition}]++
		}
	}
	resp.Topics = make([]kmsg.ListOffsetsResponseTopic, len(req.Topics))
	for i, rt := range req.Topics {
		st := &resp.Topics[i]
		*st = kmsg.NewListOffsetsResponseTopic()
		st.Topic = rt.Topic
		t, topicOK := s.broker.Topic(rt.Topic)
		st.Partitions = make([]kmsg.ListOffsetsResponseTopicPartition, len(rt.Partitions))
		for j, rp := range rt.Partitions {
			sp := &st.Partitions[j]
			*sp = kmsg.NewListOffsetsResponseTopicPartition()
			sp.Partition = rp.Partition
			since, special := listOffsetsSince[rp.Timestamp]
			switch {
			case req.Version >= 1 && seen[tp{rt.Topic, rp.Partition}] > 1:
				sp.ErrorCode = kerr.InvalidRequest.Code
				continue
			case rp.Timestamp < 0 && (!special || req.Version < since):
				sp.ErrorCode = kerr.UnsupportedVersion.Code
				continue
			case !topicOK:
				sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
				continue
			case rp.CurrentLeaderEpoch > 0:
				sp.ErrorCode = kerr.UnknownLeaderEpoch.Code
				continue
			}
			p, ok := t.Partition(rp.Partition)
			if !ok {
				sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
				continue
			}
			ts := rp.Timestamp
			switch ts {
			case -4:
				ts = -2
			case -5:
				continue // defaults: offset -1, timestamp -1
			}
			offset, timestamp, found, err := p.ListOffset(ts)
			if err != nil {
				sp.ErrorCode = errCode(err)
				continue
			}
			if !found {
				continue
			}
			if req.Version == 0 {
				if rp.MaxNumOffsets > 0 {
					sp.OldStyleOffsets = []int64{offset}
				}
				continue
			}
			sp.Offset, sp.LeaderEpoch = offset, 0
			if ts >= 0 || ts == -3 {
				sp.Timestamp = timestamp // -1 and -2 answer no timestamp
			}
		}
	}
	return resp
}
