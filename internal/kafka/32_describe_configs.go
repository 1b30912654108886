package kafka

// DescribeConfigs: v0-4
//
// Topic resources list every topic config Loft honours (broker.Topic.
// Configs: the ones set, with source DYNAMIC_TOPIC_CONFIG, and the others
// at their defaults, DEFAULT_CONFIG); the broker resource ("0" or "") lists
// the broker's read-only configs (STATIC_BROKER_CONFIG when set by a flag).
// ConfigNames filters; a name Loft does not know is left out. Other
// resource types are INVALID_REQUEST; an unknown topic is
// UNKNOWN_TOPIC_OR_PARTITION.
//
// Version notes:
//   - v1: Source, ConfigSynonyms (none are reported: each config has one
//     source), IncludeSynonyms (ignored, as above)
//   - v2: ThrottleMillis
//   - v3: ConfigType; IncludeDocumentation (no documentation is sent)
//   - v4: flexible

import (
	"slices"

	"github.com/loftmq/loft/internal/broker"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (s *Server) handleDescribeConfigs(r *request) kmsg.Response {
	req := r.kreq.(*kmsg.DescribeConfigsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeConfigsResponse)
	resp.Resources = make([]kmsg.DescribeConfigsResponseResource, len(req.Resources))
	for i, rr := range req.Resources {
		sr := &resp.Resources[i]
		*sr = kmsg.NewDescribeConfigsResponseResource()
		sr.ResourceType, sr.ResourceName = rr.ResourceType, rr.ResourceName
		res, code, err := resolveResource(rr.ResourceType, rr.ResourceName)
		if code != nil {
			sr.ErrorCode, sr.ErrorMessage = code.Code, errMessage(err)
			continue
		}
		var entries []broker.ConfigEntry
		source := kmsg.ConfigSourceStaticBrokerConfig
		if res.broker {
			entries = s.broker.BrokerConfigs()
		} else {
			t, ok := s.broker.Topic(res.topic)
			if !ok {
				sr.ErrorCode = kerr.UnknownTopicOrPartition.Code
				sr.ErrorMessage = &kerr.UnknownTopicOrPartition.Description
				continue
			}
			entries = t.Configs()
			source = kmsg.ConfigSourceDynamicTopicConfig
		}
		sr.Configs = []kmsg.DescribeConfigsResponseResourceConfig{}
		for _, e := range entries {
			if rr.ConfigNames != nil && !slices.Contains(rr.ConfigNames, e.Name) {
				continue
			}
			c := kmsg.NewDescribeConfigsResponseResourceConfig()
			c.Name = e.Name
			if !e.Sensitive {
				v := e.Value
				c.Value = &v
			}
			c.ReadOnly, c.IsDefault, c.IsSensitive = e.ReadOnly, e.Default, e.Sensitive
			c.Source = configSource(e, source)
			c.ConfigType = kmsg.ConfigTypeString
			if t, ok := configTypes[e.Name]; ok && !res.broker {
				c.ConfigType = t
			}
			sr.Configs = append(sr.Configs, c)
		}
	}
	return resp
}
