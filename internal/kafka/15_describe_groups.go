package kafka

// DescribeGroups: v0-6
//
// A group the coordinator does not know is described as Kafka does: state
// Dead, no members, no error (or the coordinator's error code, if any).
//
// Version notes:
//   - v1: ThrottleMillis
//   - v3: authorized operations: -2147483648 unless asked for; then every
//     group operation, since there are no ACLs
//   - v4: InstanceID of each member
//   - v5: flexible
//   - v6: ErrorMessage

import "github.com/twmb/franz-go/pkg/kmsg"

func (s *Server) handleDescribeGroups(r *request) kmsg.Response {
	req := r.kreq.(*kmsg.DescribeGroupsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeGroupsResponse)
	resp.Groups = make([]kmsg.DescribeGroupsResponseGroup, len(req.Groups))
	for i, id := range req.Groups {
		sg := &resp.Groups[i]
		*sg = kmsg.NewDescribeGroupsResponseGroup()
		sg.Group = id
		sg.AuthorizedOperations = opsNotComputed
		if req.IncludeAuthorizedOperations {
			sg.AuthorizedOperations = groupOps
		}
		d, code := s.groups.Describe(id)
		sg.ErrorCode = code
		if code != 0 {
			if req.Version >= 6 {
				sg.ErrorMessage = errorMessage(code)
			}
			continue
		}
		sg.State, sg.ProtocolType, sg.Protocol = d.State, d.ProtocolType, d.Protocol
		sg.Members = make([]kmsg.DescribeGroupsResponseGroupMember, len(d.Members))
		for j, m := range d.Members {
			sm := &sg.Members[j]
			*sm = kmsg.NewDescribeGroupsResponseGroupMember()
			sm.MemberID, sm.InstanceID = m.ID, m.InstanceID
			sm.ClientID, sm.ClientHost = m.ClientID, m.ClientHost
			sm.ProtocolMetadata, sm.MemberAssignment = orEmpty(m.Metadata), orEmpty(m.Assignment)
		}
	}
	return resp
}

// orEmpty returns b, or an empty slice for nil: some clients read a null
// byte array where Kafka never sends one as an error.
func orEmpty(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}
