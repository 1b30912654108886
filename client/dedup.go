package client

import (
	"container/list"
	"context"
	"sync"
)

// Store remembers which messages a consumer has processed, so that an
// idempotent handler (Idempotent) skips a message delivered again: after a
// lost connection, a crash between processing and acknowledging, or a
// publisher's retry that reached the broker twice. Keys are the consumer
// (its queue) and the message id.
//
// A handler's effects and Done are not one transaction unless the store
// shares the handler's database; otherwise a crash between the two runs
// the handler again, once.
type Store interface {
	// Seen reports whether consumer has processed id.
	Seen(ctx context.Context, consumer, id string) (bool, error)
	// Done records that consumer has processed id.
	Done(ctx context.Context, consumer, id string) error
}

// MemoryStore is a Store in memory, bounded: it remembers the most recent
// ids, forgetting the oldest beyond its size. It suits a single instance,
// or tests; instances sharing a queue need a shared store (e.g. the
// PostgreSQL one).
type MemoryStore struct {
	mu    sync.Mutex
	size  int
	order *list.List // of string keys, oldest first
	keys  map[string]*list.Element
}

// NewMemoryStore returns a MemoryStore remembering up to size ids.
func NewMemoryStore(size int) *MemoryStore {
	return &MemoryStore{size: max(size, 1), order: list.New(), keys: map[string]*list.Element{}}
}

func (s *MemoryStore) Seen(_ context.Context, consumer, id string) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.keys[consumer+"\x00"+id]
	return ok, nil
}

func (s *MemoryStore) Done(_ context.Context, consumer, id string) error {
	k := consumer + "\x00" + id
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.keys[k]; ok {
		return nil
	}
	s.keys[k] = s.order.PushBack(k)
	for s.order.Len() > s.size {
		oldest := s.order.Front()
		s.order.Remove(oldest)
		delete(s.keys, oldest.Value.(string))
	}
	return nil
}
