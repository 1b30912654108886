package streamapi

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/loftmq/loft/internal/broker"
	"github.com/loftmq/loft/internal/logstore"
)

// sseBatch bounds the records an event stream reads at a time.
const sseBatch = 500

// stream answers GET .../partitions/{partition}/sse: a Server-Sent Events
// stream of the partition's records from offset on (default: the end, so
// only new records), one "record" event each, with the offset as the
// event id. A client that reconnects with Last-Event-ID (as EventSource
// does) resumes after it when it gives no offset. Idle streams get a
// comment every Heartbeat. The stream ends when the client goes, the
// server closes, or (with an "error" event) the partition is deleted or
// its records before the next offset are removed by retention.
func (a *API) stream(w http.ResponseWriter, r *http.Request) {
	p, ok := a.partitionFor(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	enc, ok := encodingParam(w, q)
	if !ok {
		return
	}
	def := "latest"
	if id := r.Header.Get("Last-Event-ID"); id != "" {
		n, err := strconv.ParseInt(id, 10, 64)
		if err != nil || n < 0 {
			badParam(w, "Last-Event-ID", "%q is not an offset", id)
			return
		}
		def = strconv.FormatInt(n+1, 10)
	}
	offset, ok := startOffset(w, q, p, def)
	if !ok {
		return
	}
	if start, end := p.LogStartOffset(), p.HighWatermark(); offset < start || offset > end {
		a.readError(w, p, fmt.Errorf("%w: %d not in [%d, %d]", broker.ErrOffsetOutOfRange, offset, start, end))
		return
	}

	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no") // nginx: pass events on as they come
	w.WriteHeader(http.StatusOK)
	s := &sseWriter{w: w, rc: http.NewResponseController(w), timeout: a.cfg.WriteTimeout}
	if s.comment(fmt.Sprintf("%s partition %d from offset %d", p.Topic(), p.Index(), offset)) != nil {
		return
	}
	a.logger.Debug("streamapi: event stream opened", "topic", p.Topic(), "partition", p.Index(), "offset", offset)
	err := a.pump(r, p, s, offset, enc)
	a.logger.Debug("streamapi: event stream closed", "topic", p.Topic(), "partition", p.Index(), "reason", err)
}

// pump sends the records of p from offset as they arrive, until the
// client goes, the API or the broker closes, or a read fails. It returns
// why it stopped.
func (a *API) pump(r *http.Request, p *broker.Partition, s *sseWriter, offset int64, enc string) error {
	heartbeat := time.NewTicker(a.cfg.Heartbeat)
	defer heartbeat.Stop()
	var buf []byte
	for {
		ch, final := waitChan(p)
		var recs []logstore.Record
		var next int64
		var err error
		recs, next, buf, err = readFrom(p, buf, offset, sseBatch)
		if err != nil {
			s.failure(p, err)
			return err
		}
		for _, rec := range recs {
			if err := s.record(rec, enc); err != nil {
				return err
			}
		}
		if len(recs) > 0 {
			if err := s.flush(); err != nil {
				return err
			}
		}
		if next != offset {
			offset = next
			continue
		}
		if final {
			return broker.ErrClosed
		}
		select {
		case <-ch:
		case <-heartbeat.C:
			if err := s.comment("heartbeat"); err != nil {
				return err
			}
		case <-r.Context().Done():
			return r.Context().Err()
		case <-a.done:
			return errClosing
		}
	}
}

// sseWriter writes Server-Sent Events, each write under its own deadline:
// a client that stops reading is cut off after timeout, while the stream
// itself may last as long as the client stays.
type sseWriter struct {
	w       io.Writer
	rc      *http.ResponseController
	timeout time.Duration
}

// write writes raw event text under a fresh write deadline.
func (s *sseWriter) write(b []byte) error {
	// ErrNotSupported (a writer without deadlines) leaves the server's.
	s.rc.SetWriteDeadline(time.Now().Add(s.timeout))
	_, err := s.w.Write(b)
	return err
}

func (s *sseWriter) flush() error {
	s.rc.SetWriteDeadline(time.Now().Add(s.timeout))
	return s.rc.Flush()
}

// comment sends a comment line, which clients ignore: a sign of life.
func (s *sseWriter) comment(text string) error {
	if err := s.write([]byte(": " + text + "\n\n")); err != nil {
		return err
	}
	return s.flush()
}

// record writes one record as a "record" event; the caller flushes. The
// JSON has no newline in it, so one data line holds it.
func (s *sseWriter) record(rec logstore.Record, enc string) error {
	data, err := json.Marshal(encodeRecord(rec, enc))
	if err != nil {
		return err
	}
	b := make([]byte, 0, len(data)+48)
	b = fmt.Appendf(b, "id: %d\nevent: record\ndata: ", rec.Offset)
	b = append(b, data...)
	b = append(b, "\n\n"...)
	return s.write(b)
}

// failure tells the client, with an "error" event, why the stream ends.
func (s *sseWriter) failure(p *broker.Partition, err error) {
	_, kind, reason := errorStatus(err)
	v := map[string]any{"error": kind, "reason": reason}
	if kind == "offset_out_of_range" {
		v["start_offset"], v["end_offset"] = p.LogStartOffset(), p.HighWatermark()
	}
	data, _ := json.Marshal(v)
	if s.write(fmt.Appendf(nil, "event: error\ndata: %s\n\n", data)) == nil {
		s.flush()
	}
}
