package streamapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/loftmq/loft/internal/broker"
	"github.com/loftmq/loft/internal/httpx"
	"github.com/loftmq/loft/internal/logstore"
)

// Bounds of a read.
const (
	DefaultReadRecords = 100
	MaxReadRecords     = 1000
)

// readAnswer answers a read. NextOffset is where to read next: after the
// last record given, or where the read began when it gave none.
type readAnswer struct {
	Topic       string      `json:"topic"`
	Partition   int32       `json:"partition"`
	Records     []outRecord `json:"records"`
	NextOffset  int64       `json:"next_offset"`
	StartOffset int64       `json:"start_offset"`
	EndOffset   int64       `json:"end_offset"`
}

// badParam answers 400 for a query parameter.
func badParam(w http.ResponseWriter, name, format string, args ...any) {
	httpx.Error(w, http.StatusBadRequest, "bad_request", name+": "+fmt.Sprintf(format, args...))
}

// intParam parses an optional integer parameter within [lo, hi].
func intParam(w http.ResponseWriter, q url.Values, name string, def, lo, hi int64) (int64, bool) {
	s := q.Get(name)
	if s == "" {
		return def, true
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		badParam(w, name, "%q is not an integer", s)
		return 0, false
	}
	if n < lo || n > hi {
		badParam(w, name, "%d, want %d to %d", n, lo, hi)
		return 0, false
	}
	return n, true
}

// startOffset resolves where a read starts: offset (a number, earliest or
// latest) or timestamp (the first record at or after it, or the end when
// there is none), one of the two; def when neither is given, "" meaning
// that one is required.
func startOffset(w http.ResponseWriter, q url.Values, p *broker.Partition, def string) (int64, bool) {
	off, ts := q.Get("offset"), q.Get("timestamp")
	switch {
	case off != "" && ts != "":
		badParam(w, "offset", "give offset or timestamp, not both")
		return 0, false
	case ts != "":
		t, ok := intParam(w, q, "timestamp", 0, 0, 1<<62)
		if !ok {
			return 0, false
		}
		o, _, found, err := p.ListOffset(t)
		if err != nil {
			writeError(w, err)
			return 0, false
		}
		if !found {
			o = p.HighWatermark()
		}
		return o, true
	case off == "":
		if def == "" {
			badParam(w, "offset", "required: a number, earliest or latest (or give timestamp)")
			return 0, false
		}
		off = def
	}
	switch off {
	case "earliest":
		return p.LogStartOffset(), true
	case "latest":
		return p.HighWatermark(), true
	}
	n, err := strconv.ParseInt(off, 10, 64)
	if err != nil || n < 0 {
		badParam(w, "offset", "%q is not an offset: want a number, earliest or latest", off)
		return 0, false
	}
	return n, true
}

// encodingParam reads the encoding of keys and values in answers.
func encodingParam(w http.ResponseWriter, q url.Values) (string, bool) {
	switch e := q.Get("encoding"); e {
	case "", encUTF8:
		return encUTF8, true
	case encBase64:
		return encBase64, true
	default:
		badParam(w, "encoding", "%q, want %s or %s", e, encUTF8, encBase64)
		return "", false
	}
}

// readRecords answers GET .../partitions/{partition}/records: the records
// from offset on, waiting up to max_wait_ms for the first to arrive.
func (a *API) readRecords(w http.ResponseWriter, r *http.Request) {
	p, ok := a.partitionFor(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	maxRecs, ok := intParam(w, q, "max_records", DefaultReadRecords, 1, MaxReadRecords)
	if !ok {
		return
	}
	waitMs, ok := intParam(w, q, "max_wait_ms", 0, 0, a.cfg.MaxWait.Milliseconds())
	if !ok {
		return
	}
	enc, ok := encodingParam(w, q)
	if !ok {
		return
	}
	offset, ok := startOffset(w, q, p, "")
	if !ok {
		return
	}
	wait := time.Duration(waitMs) * time.Millisecond
	if wait > 0 {
		// The wait may outlast the server's WriteTimeout. (Its ReadTimeout
		// does not matter: net/http lifts the read deadline once the
		// request has been read.)
		http.NewResponseController(w).SetWriteDeadline(time.Now().Add(wait + a.cfg.WriteTimeout))
	}
	recs, next, err := a.poll(r.Context(), p, offset, int(maxRecs), wait)
	if errors.Is(err, context.Canceled) {
		return // the client has gone
	}
	if err != nil {
		a.readError(w, p, err)
		return
	}
	ans := readAnswer{
		Topic: p.Topic(), Partition: p.Index(), Records: make([]outRecord, 0, len(recs)), NextOffset: next,
		StartOffset: p.LogStartOffset(), EndOffset: p.HighWatermark(),
	}
	for _, rec := range recs {
		ans.Records = append(ans.Records, encodeRecord(rec, enc))
	}
	httpx.JSON(w, http.StatusOK, ans)
}

// readError answers a failed read; an offset out of range says what the
// range is, for the client to start again within it.
func (a *API) readError(w http.ResponseWriter, p *broker.Partition, err error) {
	status, kind, reason := errorStatus(err)
	if status != http.StatusRequestedRangeNotSatisfiable {
		httpx.Error(w, status, kind, reason)
		return
	}
	httpx.JSON(w, status, map[string]any{
		"error": kind, "reason": reason,
		"start_offset": p.LogStartOffset(), "end_offset": p.HighWatermark(),
	})
}

// poll reads from offset, waiting up to wait for records when there are
// none yet. It returns no records and offset when the wait ends empty,
// context.Canceled when the client goes, and broker.ErrClosed when the
// broker or the API closes.
func (a *API) poll(ctx context.Context, p *broker.Partition, offset int64, limit int, wait time.Duration) ([]logstore.Record, int64, error) {
	deadline := time.Now().Add(wait)
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		ch, final := waitChan(p)
		recs, next, _, err := readFrom(p, nil, offset, limit)
		if err != nil || len(recs) > 0 || next != offset {
			return recs, next, err
		}
		if final {
			return nil, offset, broker.ErrClosed
		}
		left := time.Until(deadline)
		if left <= 0 {
			return nil, offset, nil
		}
		if timer == nil {
			timer = time.NewTimer(left)
		}
		select {
		case <-ch:
		case <-timer.C:
			return nil, offset, nil
		case <-ctx.Done():
			return nil, offset, context.Canceled
		case <-a.done:
			return nil, offset, broker.ErrClosed
		}
	}
}

// waitChan returns the partition's wait channel and whether it had already
// fired. Taken before a read, a channel that had fired when that read
// finds nothing new can only have been closed for good: by the
// partition's deletion (the read then fails) or the broker's close. An
// append closes it only after the high watermark has moved, which the
// read would have seen.
func waitChan(p *broker.Partition) (<-chan struct{}, bool) {
	ch := p.Wait()
	select {
	case <-ch:
		return ch, true
	default:
		return ch, false
	}
}
