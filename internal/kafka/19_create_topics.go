package kafka

// CreateTopics: v0-7
//
// Topics are created by the broker (names, partition counts and configs are
// checked there; an unknown or invalid config is INVALID_CONFIG). A single
// node holds one replica of everything, so ReplicationFactor must be -1
// (the default) or 1, else INVALID_REPLICATION_FACTOR; a manual
// ReplicaAssignment is refused with INVALID_REPLICA_ASSIGNMENT. A config
// with a null value is INVALID_CONFIG, as in Kafka. A topic named twice in
// one request is INVALID_REQUEST for each entry. TimeoutMillis is not
// needed: creation is synchronous.
//
// Version notes:
//   - v1: ValidateOnly, ErrorMessage
//   - v2: ThrottleMillis
//   - v4: NumPartitions -1 for the default (--kafka-default-partitions)
//   - v5: flexible; NumPartitions, ReplicationFactor and Configs in the
//     response
//   - v7: TopicID in the response (zero for ValidateOnly)

import (
	"fmt"

	"github.com/loftmq/loft/internal/broker"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (s *Server) handleCreateTopics(r *request) kmsg.Response {
	req := r.kreq.(*kmsg.CreateTopicsRequest)
	resp := req.ResponseKind().(*kmsg.CreateTopicsResponse)
	count := make(map[string]int, len(req.Topics))
	for _, rt := range req.Topics {
		count[rt.Topic]++
	}
	resp.Topics = make([]kmsg.CreateTopicsResponseTopic, len(req.Topics))
	for i, rt := range req.Topics {
		st := &resp.Topics[i]
		*st = kmsg.NewCreateTopicsResponseTopic()
		st.Topic = rt.Topic
		fail := func(code *kerr.Error, err error) {
			st.ErrorCode = code.Code
			st.NumPartitions, st.ReplicationFactor = -1, -1
			if req.Version >= 1 {
				if err != nil {
					st.ErrorMessage = errMessage(err)
				} else {
					st.ErrorMessage = &code.Description
				}
			}
		}
		if count[rt.Topic] > 1 {
			fail(kerr.InvalidRequest, fmt.Errorf("topic %q is named more than once in the request", rt.Topic))
			continue
		}
		if len(rt.ReplicaAssignment) > 0 {
			fail(kerr.InvalidReplicaAssignment, fmt.Errorf("manual replica assignment is not supported: Loft is a single node"))
			continue
		}
		if rt.ReplicationFactor != -1 && rt.ReplicationFactor != 1 {
			fail(kerr.InvalidReplicationFactor, fmt.Errorf("replication factor %d: Loft is a single node, use 1 or -1", rt.ReplicationFactor))
			continue
		}
		spec := broker.TopicSpec{Name: rt.Topic, Partitions: rt.NumPartitions, Configs: make(map[string]string, len(rt.Configs))}
		var nullConfig string
		for _, c := range rt.Configs {
			if c.Value == nil {
				nullConfig = c.Name
				break
			}
			spec.Configs[c.Name] = *c.Value
		}
		if nullConfig != "" {
			fail(kerr.InvalidConfig, fmt.Errorf("null value for topic config %q", nullConfig))
			continue
		}
		t, err := s.broker.CreateTopic(r.ctx, spec, req.ValidateOnly)
		if err != nil {
			fail(kafkaErr(err), err)
			continue
		}
		st.ReplicationFactor = 1
		st.NumPartitions = t.NumPartitions()
		if !req.ValidateOnly {
			st.TopicID = t.ID()
		}
		for _, e := range t.Configs() {
			c := kmsg.NewCreateTopicsResponseTopicConfig()
			c.Name, c.Value, c.ReadOnly, c.IsSensitive = e.Name, &e.Value, e.ReadOnly, e.Sensitive
			c.Source = int8(configSource(e, kmsg.ConfigSourceDynamicTopicConfig))
			st.Configs = append(st.Configs, c)
		}
	}
	return resp
}

// configSource is the Source a config entry reports: set is where a value
// set on the resource comes from; anything else is a default.
func configSource(e broker.ConfigEntry, set kmsg.ConfigSource) kmsg.ConfigSource {
	if e.Default {
		return kmsg.ConfigSourceDefaultConfig
	}
	return set
}
