package logstore

import (
	"container/list"
	"errors"
	"sync"

	"github.com/loftmq/loft/internal/fs"
)

// errRetired tells a reader that the segment it looked up was replaced
// (compaction) or removed (retention, truncation) after it looked: it looks
// again.
var errRetired = errors.New("logstore: segment retired")

// handles bounds the open segment files of a whole store. A handle in use
// (refs > 0) is never closed; an idle one waits in an LRU list and is closed
// when the store needs room. So 10,000 mostly idle logs hold at most max
// descriptors, not one or three each.
type handles struct {
	fsys fs.FS
	max  int

	mu   sync.Mutex
	open int
	idle list.List // of *segment, least recently used at the front
}

// fileState is the part of a segment that handles guards.
type fileState struct {
	f       fs.File
	refs    int
	elem    *list.Element // in handles.idle while open and unused
	retired bool
}

// acquire returns an open handle on the segment's file; release it when
// done. Handles are read-write, sealed segment or not, so that one cached
// handle serves the flusher, readers and truncation alike.
func (h *handles) acquire(s *segment) (fs.File, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	fsx := &s.file
	if fsx.retired {
		return nil, errRetired
	}
	if fsx.f == nil {
		h.evictLocked()
		var err error
		fsx.f, err = h.fsys.OpenFile(s.logPath)
		if err != nil {
			fsx.f = nil
			return nil, err
		}
		h.open++
	}
	if fsx.elem != nil {
		h.idle.Remove(fsx.elem)
		fsx.elem = nil
	}
	fsx.refs++
	return fsx.f, nil
}

// adopt registers a file the caller just created for s, acquired once.
func (h *handles) adopt(s *segment, f fs.File) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.evictLocked()
	s.file.f = f
	s.file.refs = 1
	h.open++
}

func (h *handles) release(s *segment) {
	h.mu.Lock()
	defer h.mu.Unlock()
	fsx := &s.file
	fsx.refs--
	if fsx.refs > 0 {
		return
	}
	if fsx.retired {
		h.closeLocked(s)
		return
	}
	fsx.elem = h.idle.PushBack(s)
}

// retire makes s unavailable to new readers and closes its file once the
// current ones are done. Call it before the file is renamed over or removed.
func (h *handles) retire(s *segment) {
	h.mu.Lock()
	defer h.mu.Unlock()
	s.file.retired = true
	if s.file.refs == 0 && s.file.f != nil {
		h.closeLocked(s)
	}
}

// unretire undoes retire when the replacement it prepared for failed.
func (h *handles) unretire(s *segment) {
	h.mu.Lock()
	defer h.mu.Unlock()
	s.file.retired = false
}

func (h *handles) evictLocked() {
	for h.open >= h.max {
		e := h.idle.Front()
		if e == nil {
			return // every handle is in use: exceed the bound rather than block
		}
		h.closeLocked(e.Value.(*segment))
	}
}

func (h *handles) closeLocked(s *segment) {
	fsx := &s.file
	if fsx.elem != nil {
		h.idle.Remove(fsx.elem)
		fsx.elem = nil
	}
	if fsx.f != nil {
		fsx.f.Close() // read handles, or a writer's after its data was synced
		fsx.f = nil
		h.open--
	}
}

// openCount reports the open handles, for tests.
func (h *handles) openCount() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.open
}
