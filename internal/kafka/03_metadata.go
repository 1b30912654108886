package kafka

// Metadata: v0-13
//
// One broker, node 0, at the advertised address; it is the controller and
// the leader of every partition (leader epoch 0, replicas and ISR [0]).
//
// Topics: a null list (v1+; an empty one at v0) asks for every topic, an
// empty list for none. A missing topic is created when the broker allows
// auto-creation (--kafka-auto-create-topics) and the request does
// (AllowAutoTopicCreation from v4; always before, as in Kafka), with the
// default partition count; creation is synchronous, so the answer already
// has the topic's partitions (Kafka answers LEADER_NOT_AVAILABLE first).
// Otherwise it is UNKNOWN_TOPIC_OR_PARTITION, or INVALID_TOPIC_EXCEPTION
// for a name Kafka's rules refuse.
//
// Version notes:
//   - v1: ControllerID, IsInternal (no topic is internal: __meta is not a
//     topic), Rack (none)
//   - v2: ClusterID
//   - v4: AllowAutoTopicCreation
//   - v5: OfflineReplicas (none)
//   - v7: LeaderEpoch (0)
//   - v8: authorized operations: -2147483648 (not computed) unless asked
//     for; then every operation, since there are no ACLs
//   - v9: flexible
//   - v10: TopicID; topics asked for by id (unknown: UNKNOWN_TOPIC_ID)
//   - v11: cluster authorized operations are no longer in the request
//   - v13: top-level ErrorCode (always 0)

import (
	"errors"
	"math"

	"github.com/loftmq/loft/internal/broker"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Authorized-operation bit sets reported when a client asks for them:
// everything a topic or the cluster supports, as no ACLs exist. Bits are
// Kafka's AclOperation codes.
const (
	opsNotComputed = math.MinInt32
	// READ, WRITE, CREATE, DELETE, ALTER, DESCRIBE, DESCRIBE_CONFIGS,
	// ALTER_CONFIGS.
	topicOps = 1<<3 | 1<<4 | 1<<5 | 1<<6 | 1<<7 | 1<<8 | 1<<10 | 1<<11
	// CREATE, ALTER, DESCRIBE, CLUSTER_ACTION, DESCRIBE_CONFIGS,
	// ALTER_CONFIGS, IDEMPOTENT_WRITE.
	clusterOps = 1<<5 | 1<<7 | 1<<8 | 1<<9 | 1<<10 | 1<<11 | 1<<12
	// READ, DELETE, DESCRIBE.
	groupOps = 1<<3 | 1<<6 | 1<<8
)

func (s *Server) handleMetadata(r *request) kmsg.Response {
	req := r.kreq.(*kmsg.MetadataRequest)
	resp := req.ResponseKind().(*kmsg.MetadataResponse)

	host, port := s.hostPort()
	b := kmsg.NewMetadataResponseBroker()
	b.NodeID, b.Host, b.Port = nodeID, host, port
	resp.Brokers = []kmsg.MetadataResponseBroker{b}
	clusterID := s.cfg.ClusterID
	resp.ClusterID = &clusterID
	resp.ControllerID = nodeID
	resp.AuthorizedOperations = opsNotComputed
	if req.IncludeClusterAuthorizedOperations {
		resp.AuthorizedOperations = clusterOps
	}

	all := req.Topics == nil || req.Version == 0 && len(req.Topics) == 0
	if all {
		for _, t := range s.broker.Topics() {
			resp.Topics = append(resp.Topics, s.metadataTopic(req, t))
		}
		return resp
	}
	autoCreate := s.broker.Options().AutoCreateTopics && (req.Version < 4 || req.AllowAutoTopicCreation)
	seen := make(map[string]bool, len(req.Topics))
	for _, rt := range req.Topics {
		var t *broker.Topic
		var ok bool
		switch {
		case rt.TopicID != [16]byte{}:
			if t, ok = s.broker.TopicByID(rt.TopicID); !ok {
				st := kmsg.NewMetadataResponseTopic()
				st.TopicID, st.ErrorCode = rt.TopicID, kerr.UnknownTopicID.Code
				resp.Topics = append(resp.Topics, st)
				continue
			}
		case rt.Topic == nil:
			continue
		default:
			name := *rt.Topic
			if seen[name] {
				continue
			}
			t, ok = s.broker.Topic(name)
			if !ok && autoCreate {
				var err error
				t, err = s.autoCreate(r, name)
				ok = err == nil
				if err != nil {
					st := kmsg.NewMetadataResponseTopic()
					st.Topic, st.ErrorCode = &name, errCode(err)
					resp.Topics = append(resp.Topics, st)
					seen[name] = true
					continue
				}
			}
			if !ok {
				st := kmsg.NewMetadataResponseTopic()
				st.Topic, st.ErrorCode = &name, kerr.UnknownTopicOrPartition.Code
				resp.Topics = append(resp.Topics, st)
				seen[name] = true
				continue
			}
		}
		if seen[t.Name()] {
			continue
		}
		seen[t.Name()] = true
		resp.Topics = append(resp.Topics, s.metadataTopic(req, t))
	}
	return resp
}

// autoCreate creates a topic a Metadata request named, with the default
// partition count. A topic created meanwhile by another request is fine.
func (s *Server) autoCreate(r *request, name string) (*broker.Topic, error) {
	t, err := s.broker.CreateTopic(r.ctx, broker.TopicSpec{Name: name, Partitions: -1}, false)
	if errors.Is(err, broker.ErrTopicExists) {
		if t, ok := s.broker.Topic(name); ok {
			return t, nil
		}
		return nil, broker.ErrUnknownTopic // created and deleted meanwhile
	}
	if err != nil {
		return nil, err
	}
	s.logger.Info("topic auto-created", "topic", name, "partitions", len(t.Partitions()))
	return t, nil
}

func (s *Server) metadataTopic(req *kmsg.MetadataRequest, t *broker.Topic) kmsg.MetadataResponseTopic {
	st := kmsg.NewMetadataResponseTopic()
	name := t.Name()
	st.Topic = &name
	st.TopicID = t.ID()
	st.AuthorizedOperations = opsNotComputed
	if req.IncludeTopicAuthorizedOperations {
		st.AuthorizedOperations = topicOps
	}
	parts := t.Partitions()
	st.Partitions = make([]kmsg.MetadataResponseTopicPartition, len(parts))
	for i, p := range parts {
		sp := &st.Partitions[i]
		*sp = kmsg.NewMetadataResponseTopicPartition()
		sp.Partition = p.Index()
		sp.Leader = nodeID
		sp.LeaderEpoch = 0
		sp.Replicas = []int32{nodeID}
		sp.ISR = []int32{nodeID}
		sp.OfflineReplicas = []int32{}
	}
	return st
}
