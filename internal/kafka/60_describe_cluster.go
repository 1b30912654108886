package kafka

// DescribeCluster: v0-2
//
// One broker, node 0, the controller, at the advertised address.
//
// Version notes:
//   - v0: cluster authorized operations: -2147483648 unless asked for;
//     then every cluster operation, since there are no ACLs
//   - v1: EndpointType: brokers (1); controllers (2) are not a separate
//     endpoint here, so that is UNSUPPORTED_ENDPOINT_TYPE, as a Kafka
//     broker answers
//   - v2: IncludeFencedBrokers; IsFenced (never)

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (s *Server) handleDescribeCluster(r *request) kmsg.Response {
	req := r.kreq.(*kmsg.DescribeClusterRequest)
	resp := req.ResponseKind().(*kmsg.DescribeClusterResponse)
	resp.EndpointType = req.EndpointType
	if req.Version >= 1 && req.EndpointType != 1 {
		resp.ErrorCode = kerr.UnsupportedEndpointType.Code
		resp.ErrorMessage = &kerr.UnsupportedEndpointType.Description
		return resp
	}
	resp.ClusterID = s.cfg.ClusterID
	resp.ControllerID = nodeID
	host, port := s.hostPort()
	b := kmsg.NewDescribeClusterResponseBroker()
	b.NodeID, b.Host, b.Port = nodeID, host, port
	resp.Brokers = []kmsg.DescribeClusterResponseBroker{b}
	resp.ClusterAuthorizedOperations = opsNotComputed
	if req.IncludeClusterAuthorizedOperations {
		resp.ClusterAuthorizedOperations = clusterOps
	}
	return resp
}
