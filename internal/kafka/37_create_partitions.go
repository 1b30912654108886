package kafka

// CreatePartitions: v0-3
//
// Grows a topic to Count partitions (INVALID_PARTITIONS if that is not
// more than it has). A manual Assignment is INVALID_REPLICA_ASSIGNMENT:
// this single node holds every partition. A topic named twice is
// INVALID_REQUEST. ValidateOnly checks without changing anything;
// TimeoutMillis is not needed.
//
// Version notes:
//   - v1: ThrottleMillis
//   - v2: flexible
//   - v3: no change

import (
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (s *Server) handleCreatePartitions(r *request) kmsg.Response {
	req := r.kreq.(*kmsg.CreatePartitionsRequest)
	resp := req.ResponseKind().(*kmsg.CreatePartitionsResponse)
	dup := duplicateResources(req.Topics, func(rt kmsg.CreatePartitionsRequestTopic) string { return rt.Topic })
	resp.Topics = make([]kmsg.CreatePartitionsResponseTopic, len(req.Topics))
	for i, rt := range req.Topics {
		st := &resp.Topics[i]
		*st = kmsg.NewCreatePartitionsResponseTopic()
		st.Topic = rt.Topic
		var code *kerr.Error
		var err error
		switch {
		case dup[rt.Topic] > 1:
			code, err = kerr.InvalidRequest, errors.New("topic named more than once")
		case rt.Assignment != nil:
			code, err = kerr.InvalidReplicaAssignment, errors.New("manual replica assignment is not supported: Loft is a single node")
		default:
			if err = s.broker.CreatePartitions(r.ctx, rt.Topic, rt.Count, req.ValidateOnly); err != nil {
				code = kafkaErr(err)
			}
		}
		if code != nil {
			st.ErrorCode, st.ErrorMessage = code.Code, errMessage(err)
		} else if !req.ValidateOnly {
			s.logger.Info("partitions created", "topic", rt.Topic, "partitions", rt.Count)
		}
	}
	return resp
}
