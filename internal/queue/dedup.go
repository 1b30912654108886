package queue

// Queue-level deduplication (x-message-deduplication on a queue, as the
// rabbitmq-message-deduplication plugin has it): a message is not
// enqueued while a message with the same key is in the queue, ready or
// unacknowledged. Once that one is acked, dropped or dead-lettered, the key
// is free again.
//
// The keys live in memory, one entry per message in the queue that has a
// key, and are rebuilt at Open by reading those messages back; with a
// DedupLimit the oldest keys are forgotten past it, bounding memory at
// the cost of admitting a duplicate of a message that old.

// dedupRef is a key remembered with the offset of the message that holds
// it, oldest first.
type dedupRef struct {
	key    string
	offset int64
}

// duplicate reports whether a message with key is in the queue. q.mu is
// held.
func (q *Queue) duplicate(key string) bool {
	o, ok := q.dedupKeys[key]
	return ok && q.present(o)
}

// present reports whether the message at o is still in the queue. q.mu is
// held.
func (q *Queue) present(o int64) bool {
	if o < q.floor || o >= q.end {
		return false
	}
	acked, _ := q.acked.has(o)
	return !acked
}

// remember records that the message at o holds key, and forgets keys whose
// messages are gone and, past the limit, the oldest. q.mu is held.
func (q *Queue) remember(key string, o int64) {
	q.dedupKeys[key] = o
	q.dedupOrder = append(q.dedupOrder, dedupRef{key, o})
	i := 0
	for ; i < len(q.dedupOrder); i++ {
		r := q.dedupOrder[i]
		over := q.dedupLimit > 0 && len(q.dedupKeys) > q.dedupLimit
		if !over && q.present(r.offset) {
			break
		}
		if q.dedupKeys[r.key] == r.offset {
			delete(q.dedupKeys, r.key)
		}
	}
	q.dedupOrder = q.dedupOrder[i:]
	// Messages acked out of order leave gone keys behind a present one:
	// sweep them when they have come to outnumber the rest.
	if len(q.dedupOrder) > 2*q.dedupSwept+1024 {
		kept := q.dedupOrder[:0]
		for _, r := range q.dedupOrder {
			switch {
			case q.dedupKeys[r.key] != r.offset:
			case q.present(r.offset):
				kept = append(kept, r)
			default:
				delete(q.dedupKeys, r.key)
			}
		}
		clear(q.dedupOrder[len(kept):])
		q.dedupOrder = kept
		q.dedupSwept = len(kept)
	}
}
