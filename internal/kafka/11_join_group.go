package kafka

// JoinGroup: v0-9
//
// Runs on the connection's reader goroutine and blocks until the group
// coordinator completes the rebalance (or the connection closes), as a
// Kafka broker holds the response; clients send it on a connection of its
// own. The coordinator implements the classic protocol: generations,
// protocol selection, static membership, MEMBER_ID_REQUIRED (v4+).
//
// Version notes:
//   - v1: RebalanceTimeoutMillis (v0: the session timeout serves as both)
//   - v2: ThrottleMillis
//   - v4: a new member must rejoin with the id it is given (KIP-394)
//   - v5: InstanceID, static membership (KIP-345)
//   - v6: flexible
//   - v7: ProtocolType in the response
//   - v8: Reason (logged at debug level)
//   - v9: SkipAssignment, for a static leader rejoining a stable group
//     (KIP-814)

import (
	"time"

	"github.com/loftmq/loft/internal/group"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (s *Server) handleJoinGroup(r *request) kmsg.Response {
	req := r.kreq.(*kmsg.JoinGroupRequest)
	resp := req.ResponseKind().(*kmsg.JoinGroupResponse)
	jr := group.JoinRequest{
		Group:          req.Group,
		MemberID:       req.MemberID,
		InstanceID:     req.InstanceID,
		ProtocolType:   req.ProtocolType,
		SessionTimeout: time.Duration(req.SessionTimeoutMillis) * time.Millisecond,
		ClientID:       r.clientID,
		ClientHost:     r.clientHost,
		Version:        req.Version,
	}
	if req.Version >= 1 {
		jr.RebalanceTimeout = time.Duration(req.RebalanceTimeoutMillis) * time.Millisecond
	}
	jr.Protocols = make([]group.Protocol, len(req.Protocols))
	for i, p := range req.Protocols {
		jr.Protocols[i] = group.Protocol{Name: p.Name, Metadata: p.Metadata}
	}
	if req.Reason != nil {
		s.logger.Debug("join group", "group", req.Group, "member", req.MemberID, "reason", *req.Reason)
	}
	res := s.groups.Join(r.ctx, jr)
	resp.ErrorCode = res.Err
	resp.Generation = res.Generation
	resp.ProtocolType = &res.ProtocolType
	resp.Protocol = &res.Protocol
	resp.LeaderID = res.Leader
	resp.MemberID = res.MemberID
	resp.SkipAssignment = res.SkipAssignment
	resp.Members = make([]kmsg.JoinGroupResponseMember, len(res.Members))
	for i, m := range res.Members {
		rm := &resp.Members[i]
		*rm = kmsg.NewJoinGroupResponseMember()
		rm.MemberID, rm.InstanceID, rm.ProtocolMetadata = m.ID, m.InstanceID, m.Metadata
	}
	if res.Err != 0 && res.ProtocolType == "" {
		resp.ProtocolType = nil
	}
	if res.Err != 0 && res.Protocol == "" {
		resp.Protocol = nil
	}
	return resp
}
