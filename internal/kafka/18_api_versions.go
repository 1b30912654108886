package kafka

// ApiVersions: v0-5
//
// Answers exactly the key and version ranges in apis. A request above v5
// is answered as KIP-511 has a broker answer it: a v0 response (which every
// client can read) with UNSUPPORTED_VERSION and the served ranges, after
// which the client retries with a version it finds there.
//
// Version notes:
//   - v1: ThrottleMillis
//   - v3: flexible; ClientSoftwareName and ClientSoftwareVersion, checked
//     against Kafka's pattern (INVALID_REQUEST otherwise); no features are
//     advertised (KIP-584 feature flags are for clusters that upgrade)
//   - v5: ClusterID and NodeID, the cluster and node the client expects
//     (KIP-1242): both or neither, else INVALID_REQUEST; another cluster's
//     or node's is REBOOTSTRAP_REQUIRED

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (s *Server) handleApiVersions(r *request) kmsg.Response {
	req := r.kreq.(*kmsg.ApiVersionsRequest)
	resp := req.ResponseKind().(*kmsg.ApiVersionsResponse)
	if req.Version >= 3 && (!validSoftwareName(req.ClientSoftwareName) || !validSoftwareName(req.ClientSoftwareVersion)) {
		resp.ErrorCode = kerr.InvalidRequest.Code
		return resp
	}
	if req.Version >= 5 {
		hasCluster, hasNode := req.ClusterID != nil, req.NodeID != -1
		switch {
		case hasCluster != hasNode:
			resp.ErrorCode = kerr.InvalidRequest.Code
			return resp
		case hasCluster && (*req.ClusterID != s.cfg.ClusterID || req.NodeID != nodeID):
			resp.ErrorCode = kerr.RebootstrapRequired.Code
			return resp
		}
	}
	resp.ApiKeys = servedKeys()
	return resp
}

// apiVersionsTooNew answers an ApiVersions request above the served range.
func (s *Server) apiVersionsTooNew(r *request) kmsg.Response {
	resp := kmsg.NewPtrApiVersionsResponse()
	resp.Version = 0
	resp.ErrorCode = kerr.UnsupportedVersion.Code
	resp.ApiKeys = servedKeys()
	return resp
}

func servedKeys() []kmsg.ApiVersionsResponseApiKey {
	keys := make([]kmsg.ApiVersionsResponseApiKey, 0, len(apis))
	for _, a := range apis {
		k := kmsg.NewApiVersionsResponseApiKey()
		k.ApiKey, k.MinVersion, k.MaxVersion = int16(a.key), a.min, a.max
		keys = append(keys, k)
	}
	return keys
}

// validSoftwareName reports whether s matches Kafka's pattern for client
// software names and versions: [a-zA-Z0-9](?:[a-zA-Z0-9\-.]*[a-zA-Z0-9])?
func validSoftwareName(s string) bool {
	alnum := func(c byte) bool {
		return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
	}
	if s == "" || !alnum(s[0]) || !alnum(s[len(s)-1]) {
		return false
	}
	for i := 1; i < len(s)-1; i++ {
		if c := s[i]; !alnum(c) && c != '-' && c != '.' {
			return false
		}
	}
	return true
}
