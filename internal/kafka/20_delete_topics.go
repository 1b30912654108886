package kafka

// DeleteTopics: v0-6
//
// Deletes topics by name, or (v6) by name or id. A deleted topic's
// partitions and data go, and the committed offsets of every group on it
// are dropped (group.TopicDeleted). An unknown name is
// UNKNOWN_TOPIC_OR_PARTITION, an unknown id UNKNOWN_TOPIC_ID; an entry
// with both a name and an id is INVALID_REQUEST, as in Kafka.
// TimeoutMillis is not needed: deletion is synchronous.
//
// Version notes:
//   - v1: ThrottleMillis
//   - v4: flexible
//   - v5: ErrorMessage
//   - v6: topics by name or id

import (
	"errors"

	"github.com/loftmq/loft/internal/broker"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (s *Server) handleDeleteTopics(r *request) kmsg.Response {
	req := r.kreq.(*kmsg.DeleteTopicsRequest)
	resp := req.ResponseKind().(*kmsg.DeleteTopicsResponse)
	topics := req.Topics
	if req.Version <= 5 {
		topics = make([]kmsg.DeleteTopicsRequestTopic, len(req.TopicNames))
		for i := range req.TopicNames {
			topics[i].Topic = &req.TopicNames[i]
		}
	}
	resp.Topics = make([]kmsg.DeleteTopicsResponseTopic, len(topics))
	for i, rt := range topics {
		st := &resp.Topics[i]
		*st = kmsg.NewDeleteTopicsResponseTopic()
		st.Topic, st.TopicID = rt.Topic, rt.TopicID
		code, err := s.deleteTopic(r, rt)
		if code != nil {
			st.ErrorCode = code.Code
			if req.Version >= 5 {
				if err != nil {
					st.ErrorMessage = errMessage(err)
				} else {
					st.ErrorMessage = &code.Description
				}
			}
		}
	}
	return resp
}

func (s *Server) deleteTopic(r *request, rt kmsg.DeleteTopicsRequestTopic) (*kerr.Error, error) {
	byID := rt.TopicID != [16]byte{}
	var name string
	switch {
	case byID && rt.Topic != nil:
		return kerr.InvalidRequest, errors.New("give a topic's name or its id, not both")
	case byID:
		t, ok := s.broker.TopicByID(rt.TopicID)
		if !ok {
			return kerr.UnknownTopicID, nil
		}
		name = t.Name()
	case rt.Topic == nil:
		return kerr.InvalidRequest, errors.New("a topic needs a name or an id")
	default:
		name = *rt.Topic
	}
	if err := s.broker.DeleteTopic(r.ctx, name); err != nil {
		if byID && errors.Is(err, broker.ErrUnknownTopic) {
			return kerr.UnknownTopicID, nil
		}
		return kafkaErr(err), err
	}
	s.groups.TopicDeleted(r.ctx, name)
	s.logger.Info("topic deleted", "topic", name)
	return nil, nil
}
