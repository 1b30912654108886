package kafka

// DeleteGroups: v0-3
//
// A group with members is NON_EMPTY_GROUP, an unknown one
// GROUP_ID_NOT_FOUND; deleting a group drops its committed offsets.
//
// Version notes:
//   - v2: flexible
//   - v3: ErrorMessage

import "github.com/twmb/franz-go/pkg/kmsg"

func (s *Server) handleDeleteGroups(r *request) kmsg.Response {
	req := r.kreq.(*kmsg.DeleteGroupsRequest)
	resp := req.ResponseKind().(*kmsg.DeleteGroupsResponse)
	resp.Groups = make([]kmsg.DeleteGroupsResponseGroup, len(req.Groups))
	for i, id := range req.Groups {
		sg := &resp.Groups[i]
		*sg = kmsg.NewDeleteGroupsResponseGroup()
		sg.Group = id
		sg.ErrorCode = s.groups.Delete(r.ctx, id)
		if sg.ErrorCode != 0 && req.Version >= 3 {
			sg.ErrorMessage = errorMessage(sg.ErrorCode)
		}
	}
	return resp
}
