package streamapi

import (
	"fmt"
	"net/http"
	"time"

	"github.com/loftmq/loft/internal/broker"
	"github.com/loftmq/loft/internal/httpx"
	"github.com/loftmq/loft/internal/logstore"
)

// MaxPublishRecords bounds the records of one publish request (the body is
// bounded too, by httpx.MaxBody).
const MaxPublishRecords = 10000

// publishBody is the body of POST /api/v1/topics/{topic}/records.
type publishBody struct {
	Records []inRecord `json:"records"`
}

// published is where one record went, or why it did not.
type published struct {
	Partition int32  `json:"partition"`
	Offset    *int64 `json:"offset,omitempty"`
	Error     string `json:"error,omitempty"`
	Reason    string `json:"reason,omitempty"`
}

// publishAnswer answers a publish. On failure Error and Reason are those
// of the first record that failed, and Offsets tells each record's fate.
type publishAnswer struct {
	Error   string      `json:"error,omitempty"`
	Reason  string      `json:"reason,omitempty"`
	Topic   string      `json:"topic"`
	Offsets []published `json:"offsets"`
}

// partBatch is the records of one publish bound for one partition: they
// are written as one batch, so they succeed or fail together.
type partBatch struct {
	p    *broker.Partition
	idx  []int // the records' indexes in the request
	recs []logstore.Record
	res  broker.ProduceResult
}

// publish answers POST /api/v1/topics/{topic}/records once every record
// is durable (200), or has failed.
//
// A record goes to its partition if it names one, else to the one Kafka's
// default partitioner gives its key, else to a partition chosen in turn
// per request, as Kafka's sticky partitioner keeps a batch together.
func (a *API) publish(w http.ResponseWriter, r *http.Request) {
	t, ok := a.topicFor(w, r)
	if !ok {
		return
	}
	var body publishBody
	if !readBody(w, r, &body) {
		return
	}
	switch n := len(body.Records); {
	case n == 0:
		httpx.Error(w, http.StatusBadRequest, "bad_request", "records: none given")
		return
	case n > MaxPublishRecords:
		httpx.Error(w, http.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf("records: %d, at most %d per request", n, MaxPublishRecords))
		return
	}
	parts := t.Partitions()
	if len(parts) == 0 {
		writeError(w, fmt.Errorf("%w: %s", broker.ErrUnknownTopic, t.Name()))
		return
	}
	sticky := int32(a.rr.Add(1) % uint32(len(parts)))
	now := time.Now().UnixMilli()
	batches := map[int32]*partBatch{}
	var order []int32
	dest := make([]int32, len(body.Records))
	for i, in := range body.Records {
		where := fmt.Sprintf("records[%d]", i)
		rec, err := in.decode(where, now)
		if err != nil {
			httpx.Error(w, http.StatusBadRequest, "bad_request", err.Error())
			return
		}
		var pi int32
		switch {
		case in.Partition != nil:
			pi = *in.Partition
			if pi < 0 || int(pi) >= len(parts) {
				httpx.Error(w, http.StatusNotFound, "not_found", fmt.Sprintf("%s.partition: topic '%s' has no partition %d (it has %d)", where, t.Name(), pi, len(parts)))
				return
			}
		case rec.Key != nil:
			pi = broker.PartitionFor(rec.Key, int32(len(parts)))
		default:
			pi = sticky
		}
		pb := batches[pi]
		if pb == nil {
			pb = &partBatch{p: parts[pi]}
			batches[pi] = pb
			order = append(order, pi)
		}
		rec.Offset = int64(len(pb.recs))
		pb.idx = append(pb.idx, i)
		pb.recs = append(pb.recs, rec)
		dest[i] = pi
	}
	a.produce(batches, order)
	a.answerPublish(w, t.Name(), body.Records, dest, batches)
}

// produce writes every batch, concurrently, and waits until each is
// durable or has failed. The broker answers every Produce, also when it
// closes, so the wait is bounded by the log's writes.
func (a *API) produce(batches map[int32]*partBatch, order []int32) {
	type result struct {
		pi  int32
		res broker.ProduceResult
	}
	results := make(chan result, len(order))
	for _, pi := range order {
		pb := batches[pi]
		raw := logstore.AppendBatch(nil, logstore.BatchOptions{ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1}, pb.recs)
		pb.p.Produce(raw, func(res broker.ProduceResult) { results <- result{pi, res} })
	}
	for range order {
		res := <-results
		batches[res.pi].res = res.res
	}
}

// answerPublish answers with each record's offset: 200 when all were
// written, else the status of the first failure.
func (a *API) answerPublish(w http.ResponseWriter, topic string, recs []inRecord, dest []int32, batches map[int32]*partBatch) {
	ans := publishAnswer{Topic: topic, Offsets: make([]published, len(recs))}
	status := http.StatusOK
	for _, pb := range batches {
		for j, i := range pb.idx {
			out := published{Partition: dest[i]}
			if pb.res.Err != nil {
				_, out.Error, out.Reason = errorStatus(pb.res.Err)
			} else {
				off := pb.res.BaseOffset + int64(j)
				out.Offset = &off
			}
			ans.Offsets[i] = out
		}
	}
	for _, out := range ans.Offsets {
		if out.Error != "" {
			status, ans.Error, ans.Reason = errorStatus(batches[out.Partition].res.Err)
			break
		}
	}
	if status != http.StatusOK {
		a.logger.Info("streamapi: publish failed", "topic", topic, "status", status, "err", ans.Reason)
	}
	httpx.JSON(w, status, ans)
}
