package kafka

// AlterConfigs: v0-2
//
// Replaces a topic's configs: the ones given are set, every other goes
// back to its default (Kafka's non-incremental semantics;
// IncrementalAlterConfigs changes only what it names). Unknown configs and
// bad values are INVALID_CONFIG, a null value too; ValidateOnly checks
// without changing anything. Broker configs are read-only:
// INVALID_REQUEST. A resource named twice is INVALID_REQUEST.
//
// Version notes:
//   - v1: ThrottleMillis
//   - v2: flexible

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (s *Server) handleAlterConfigs(r *request) kmsg.Response {
	req := r.kreq.(*kmsg.AlterConfigsRequest)
	resp := req.ResponseKind().(*kmsg.AlterConfigsResponse)
	dup := duplicateResources(req.Resources, func(rr kmsg.AlterConfigsRequestResource) string {
		return fmt.Sprint(rr.ResourceType, "/", rr.ResourceName)
	})
	resp.Resources = make([]kmsg.AlterConfigsResponseResource, len(req.Resources))
	for i, rr := range req.Resources {
		sr := &resp.Resources[i]
		*sr = kmsg.NewAlterConfigsResponseResource()
		sr.ResourceType, sr.ResourceName = rr.ResourceType, rr.ResourceName
		code, err := s.alterConfigs(r, req, rr, dup)
		if code != nil {
			sr.ErrorCode = code.Code
			if err == nil {
				sr.ErrorMessage = &code.Description
			} else {
				sr.ErrorMessage = errMessage(err)
			}
		}
	}
	return resp
}

func (s *Server) alterConfigs(r *request, req *kmsg.AlterConfigsRequest, rr kmsg.AlterConfigsRequestResource, dup map[string]int) (*kerr.Error, error) {
	if dup[fmt.Sprint(rr.ResourceType, "/", rr.ResourceName)] > 1 {
		return kerr.InvalidRequest, fmt.Errorf("resource %q is named more than once", rr.ResourceName)
	}
	res, code, err := resolveResource(rr.ResourceType, rr.ResourceName)
	if code != nil {
		return code, err
	}
	if res.broker {
		return kerr.InvalidRequest, errBrokerReadOnly
	}
	configs := make(map[string]string, len(rr.Configs))
	for _, c := range rr.Configs {
		if c.Value == nil {
			return kerr.InvalidConfig, fmt.Errorf("null value for config %q", c.Name)
		}
		configs[c.Name] = *c.Value
	}
	if err := s.broker.ReplaceTopicConfigs(r.ctx, res.topic, configs, req.ValidateOnly); err != nil {
		return kafkaErr(err), err
	}
	return nil, nil
}
