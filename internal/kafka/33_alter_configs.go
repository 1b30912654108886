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
		sr.ErrorCode, sr.ErrorMessage = resourceError(s.alterConfigs(r, req, rr, dup))
	}
	return resp
}

func (s *Server) alterConfigs(r *request, req *kmsg.AlterConfigsRequest, rr kmsg.AlterConfigsRequestResource, dup map[string]int) (*kerr.Error, error) {
	if code, err := alterableResource(rr.ResourceType, rr.ResourceName, dup); code != nil {
		return code, err
	}
	configs := make(map[string]string, len(rr.Configs))
	for _, c := range rr.Configs {
		if c.Value == nil {
			return kerr.InvalidConfig, fmt.Errorf("null value for config %q", c.Name)
		}
		configs[c.Name] = *c.Value
	}
	if err := s.broker.ReplaceTopicConfigs(r.ctx, rr.ResourceName, configs, req.ValidateOnly); err != nil {
		return kafkaErr(err), err
	}
	return nil, nil
}

// alterableResource checks a resource of AlterConfigs or
// IncrementalAlterConfigs: named once, known, and a topic (broker configs
// are read-only).
func alterableResource(typ kmsg.ConfigResourceType, name string, dup map[string]int) (*kerr.Error, error) {
	if dup[fmt.Sprint(typ, "/", name)] > 1 {
		return kerr.InvalidRequest, fmt.Errorf("resource %q is named more than once", name)
	}
	res, code, err := resolveResource(typ, name)
	if code != nil {
		return code, err
	}
	if res.broker {
		return kerr.InvalidRequest, errBrokerReadOnly
	}
	return nil, nil
}

// resourceError is a resource's error code and message from what its
// handler returned: the code's own description when there is no error.
func resourceError(code *kerr.Error, err error) (int16, *string) {
	switch {
	case code == nil:
		return 0, nil
	case err == nil:
		return code.Code, &code.Description
	}
	return code.Code, errMessage(err)
}
