package kafka

// InitProducerID: v0-5
//
// Gives an idempotent producer a new producer id (epoch 0), durable so
// that ids are never reused after a restart. Each call gets a new id: for
// producers without a transactional id Kafka does the same, so the
// existing ProducerID and ProducerEpoch a client sends (v3+, to bump its
// epoch after an error) are not needed to answer.
//
// Transactions are not served yet: a request with a transactional id is
// INVALID_REQUEST, which is not retriable, so a transactional producer
// fails at once with a clear error (FindCoordinator refuses transaction
// coordinator keys the same way).
//
// Version notes:
//   - v2: flexible
//   - v3: ProducerID and ProducerEpoch in the request (see above)
//   - v4, v5: no change for idempotent producers (KIP-890 is about
//     transactions)

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (s *Server) handleInitProducerID(r *request) kmsg.Response {
	req := r.kreq.(*kmsg.InitProducerIDRequest)
	resp := req.ResponseKind().(*kmsg.InitProducerIDResponse)
	resp.ProducerID, resp.ProducerEpoch = -1, -1
	if req.TransactionalID != nil {
		resp.ErrorCode = kerr.InvalidRequest.Code
		return resp
	}
	id, epoch, err := s.broker.InitProducerID(r.ctx)
	if err != nil {
		resp.ErrorCode = errCode(err)
		return resp
	}
	resp.ProducerID, resp.ProducerEpoch = id, epoch
	return resp
}
