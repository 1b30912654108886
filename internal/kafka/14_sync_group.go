package kafka

// SyncGroup: v0-5
//
// Like JoinGroup, blocks the connection's reader until the leader's
// assignment arrives (or the rebalance is abandoned or the connection
// closes).
//
// Version notes:
//   - v1: ThrottleMillis
//   - v3: InstanceID, static membership (KIP-345)
//   - v4: flexible
//   - v5: ProtocolType and Protocol, checked against the group's when given

import (
	"github.com/loftmq/loft/internal/group"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (s *Server) handleSyncGroup(r *request) kmsg.Response {
	req := r.kreq.(*kmsg.SyncGroupRequest)
	resp := req.ResponseKind().(*kmsg.SyncGroupResponse)
	sr := group.SyncRequest{
		Group:        req.Group,
		MemberID:     req.MemberID,
		InstanceID:   req.InstanceID,
		Generation:   req.Generation,
		ProtocolType: req.ProtocolType,
		Protocol:     req.Protocol,
	}
	sr.Assignments = make([]group.Assignment, len(req.GroupAssignment))
	for i, a := range req.GroupAssignment {
		sr.Assignments[i] = group.Assignment{MemberID: a.MemberID, Assignment: a.MemberAssignment}
	}
	res := s.groups.Sync(r.ctx, sr)
	resp.ErrorCode = res.Err
	resp.ProtocolType, resp.Protocol = res.ProtocolType, res.Protocol
	resp.MemberAssignment = res.Assignment
	if resp.MemberAssignment == nil {
		resp.MemberAssignment = []byte{}
	}
	return resp
}
