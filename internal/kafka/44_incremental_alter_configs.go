package kafka

// IncrementalAlterConfigs: v0-1
//
// Changes only the topic configs it names: SET, DELETE (back to the
// default), APPEND and SUBTRACT (list configs: cleanup.policy). Unknown
// configs, bad values and operations a config does not take are
// INVALID_CONFIG; a null value for SET, APPEND or SUBTRACT is
// INVALID_REQUEST, as in Kafka. ValidateOnly checks without changing
// anything. Broker configs are read-only: INVALID_REQUEST. A resource
// named twice is INVALID_REQUEST.
//
// Version notes:
//   - v1: flexible

import (
	"fmt"

	"github.com/loftmq/loft/internal/broker"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (s *Server) handleIncrementalAlterConfigs(r *request) kmsg.Response {
	req := r.kreq.(*kmsg.IncrementalAlterConfigsRequest)
	resp := req.ResponseKind().(*kmsg.IncrementalAlterConfigsResponse)
	dup := duplicateResources(req.Resources, func(rr kmsg.IncrementalAlterConfigsRequestResource) string {
		return fmt.Sprint(rr.ResourceType, "/", rr.ResourceName)
	})
	resp.Resources = make([]kmsg.IncrementalAlterConfigsResponseResource, len(req.Resources))
	for i, rr := range req.Resources {
		sr := &resp.Resources[i]
		*sr = kmsg.NewIncrementalAlterConfigsResponseResource()
		sr.ResourceType, sr.ResourceName = rr.ResourceType, rr.ResourceName
		sr.ErrorCode, sr.ErrorMessage = resourceError(s.incrementalAlter(r, req, rr, dup))
	}
	return resp
}

func (s *Server) incrementalAlter(r *request, req *kmsg.IncrementalAlterConfigsRequest, rr kmsg.IncrementalAlterConfigsRequestResource, dup map[string]int) (*kerr.Error, error) {
	if code, err := alterableResource(rr.ResourceType, rr.ResourceName, dup); code != nil {
		return code, err
	}
	ops := make([]broker.ConfigOp, 0, len(rr.Configs))
	for _, c := range rr.Configs {
		op := broker.ConfigOp{Name: c.Name}
		switch c.Op {
		case kmsg.IncrementalAlterConfigOpSet:
			op.Op = broker.ConfigSet
		case kmsg.IncrementalAlterConfigOpDelete:
			op.Op = broker.ConfigDelete
		case kmsg.IncrementalAlterConfigOpAppend:
			op.Op = broker.ConfigAppend
		case kmsg.IncrementalAlterConfigOpSubtract:
			op.Op = broker.ConfigSubtract
		default:
			return kerr.InvalidRequest, fmt.Errorf("unknown config operation %d for %q", c.Op, c.Name)
		}
		if c.Value != nil {
			op.Value = *c.Value
		} else if op.Op != broker.ConfigDelete {
			return kerr.InvalidRequest, fmt.Errorf("null value for config %q", c.Name)
		}
		ops = append(ops, op)
	}
	if err := s.broker.AlterTopicConfigs(r.ctx, rr.ResourceName, ops, req.ValidateOnly); err != nil {
		return kafkaErr(err), err
	}
	return nil, nil
}
