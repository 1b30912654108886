package kafka

// FindCoordinator: v0-6
//
// This one node coordinates every group: a group key answers node 0 at the
// advertised address. Transactions (coordinator type 1) and share groups
// (type 2) are not served, so those keys, like an unknown type, are
// INVALID_REQUEST: not retriable, so a transactional client fails at once
// with a clear error instead of retrying until its timeout.
//
// Version notes:
//   - v1: CoordinatorType, ThrottleMillis, ErrorMessage
//   - v3: flexible
//   - v4: several keys per request (KIP-699), each answered on its own
//   - v6: share coordinator type (refused, see above)

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// coordinatorTypeGroup is FindCoordinator's key type for consumer groups.
const coordinatorTypeGroup = 0

func (s *Server) handleFindCoordinator(r *request) kmsg.Response {
	req := r.kreq.(*kmsg.FindCoordinatorRequest)
	resp := req.ResponseKind().(*kmsg.FindCoordinatorResponse)
	keys := req.CoordinatorKeys
	if req.Version <= 3 {
		keys = []string{req.CoordinatorKey}
	}
	host, port := s.hostPort()
	for _, key := range keys {
		sc := kmsg.NewFindCoordinatorResponseCoordinator()
		sc.Key = key
		if req.CoordinatorType != coordinatorTypeGroup {
			sc.NodeID = -1
			sc.ErrorCode = kerr.InvalidRequest.Code
			msg := "only group coordinators are served: transactions and share groups are not supported"
			sc.ErrorMessage = &msg
		} else {
			sc.NodeID, sc.Host, sc.Port = nodeID, host, port
		}
		resp.Coordinators = append(resp.Coordinators, sc)
	}
	if req.Version <= 3 {
		c := resp.Coordinators[0]
		resp.Coordinators = nil
		resp.ErrorCode, resp.ErrorMessage = c.ErrorCode, c.ErrorMessage
		resp.NodeID, resp.Host, resp.Port = c.NodeID, c.Host, c.Port
	}
	return resp
}
