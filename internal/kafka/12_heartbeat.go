package kafka

// Heartbeat: v0-4
//
// Version notes:
//   - v1: ThrottleMillis
//   - v3: InstanceID, static membership (KIP-345)
//   - v4: flexible

import "github.com/twmb/franz-go/pkg/kmsg"

func (s *Server) handleHeartbeat(r *request) kmsg.Response {
	req := r.kreq.(*kmsg.HeartbeatRequest)
	resp := req.ResponseKind().(*kmsg.HeartbeatResponse)
	resp.ErrorCode = s.groups.Heartbeat(req.Group, req.MemberID, req.InstanceID, req.Generation)
	return resp
}
