package kafka

// LeaveGroup: v0-5
//
// Version notes:
//   - v1: ThrottleMillis
//   - v3: several members per request, by member id or instance id
//     (KIP-345), each answered on its own
//   - v4: flexible
//   - v5: Reason per member (logged at debug level)

import (
	"github.com/loftmq/loft/internal/group"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (s *Server) handleLeaveGroup(r *request) kmsg.Response {
	req := r.kreq.(*kmsg.LeaveGroupRequest)
	resp := req.ResponseKind().(*kmsg.LeaveGroupResponse)
	if req.Version <= 2 {
		// One member and one error code: the group's, or else the
		// member's own (UNKNOWN_MEMBER_ID is reported per member).
		code, per := s.groups.Leave(req.Group, []group.LeaveMember{{MemberID: req.MemberID}})
		if code == 0 && len(per) > 0 {
			code = per[0]
		}
		resp.ErrorCode = code
		return resp
	}
	members := make([]group.LeaveMember, len(req.Members))
	for i, m := range req.Members {
		members[i] = group.LeaveMember{MemberID: m.MemberID, InstanceID: m.InstanceID}
		if m.Reason != nil {
			s.logger.Debug("leave group", "group", req.Group, "member", m.MemberID, "reason", *m.Reason)
		}
	}
	code, per := s.groups.Leave(req.Group, members)
	resp.ErrorCode = code
	if code != 0 {
		return resp
	}
	resp.Members = make([]kmsg.LeaveGroupResponseMember, len(req.Members))
	for i, m := range req.Members {
		rm := &resp.Members[i]
		*rm = kmsg.NewLeaveGroupResponseMember()
		rm.MemberID, rm.InstanceID = m.MemberID, m.InstanceID
		if i < len(per) {
			rm.ErrorCode = per[i]
		}
	}
	return resp
}
