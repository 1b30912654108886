package kafka

// ListGroups: v0-5
//
// Every group is a classic group (the KIP-848 consumer protocol is not
// served).
//
// Version notes:
//   - v1: ThrottleMillis
//   - v3: flexible
//   - v4: StatesFilter (KIP-518), matched case-insensitively; GroupState
//   - v5: TypesFilter (KIP-848): only "classic" matches; GroupType

import (
	"strings"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func (s *Server) handleListGroups(r *request) kmsg.Response {
	req := r.kreq.(*kmsg.ListGroupsRequest)
	resp := req.ResponseKind().(*kmsg.ListGroupsResponse)
	if len(req.TypesFilter) > 0 && !containsFold(req.TypesFilter, "classic") {
		resp.Groups = []kmsg.ListGroupsResponseGroup{}
		return resp
	}
	listed := s.groups.List(req.StatesFilter)
	resp.Groups = make([]kmsg.ListGroupsResponseGroup, len(listed))
	for i, g := range listed {
		sg := &resp.Groups[i]
		*sg = kmsg.NewListGroupsResponseGroup()
		sg.Group, sg.ProtocolType, sg.GroupState, sg.GroupType = g.Group, g.ProtocolType, g.State, "classic"
	}
	return resp
}

func containsFold(list []string, s string) bool {
	for _, v := range list {
		if strings.EqualFold(v, s) {
			return true
		}
	}
	return false
}
