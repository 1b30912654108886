package logstore

import (
	"errors"
	"fmt"
	"io"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/loftmq/loft/internal/fs"
)

// segment is one file of batches and its sparse index. Fields other than
// file are guarded by the owning Log's mu; the active segment's
// are changed only by the flusher and by maintenance holding that lock.
type segment struct {
	base      int64
	logPath   string
	indexPath string

	size     int64 // bytes readers may see: durable (FsyncAlways) or written
	end      int64 // offset after the last visible batch
	maxTime  int64 // largest batch max timestamp, -1 when none
	created  time.Time
	idx      index
	sinceIdx int64 // bytes since the last index entry
	onDisk   bool  // the file exists (a new active segment is created lazily)

	holes  holes     // damaged ranges found so far (see damage.go)
	sealed bool      // takes no more appends; its index is on disk
	file   fileState // guarded by handles.mu
}

const segmentNameDigits = 20

func newSegment(dir string, base int64, now time.Time) *segment {
	name := fmt.Sprintf("%0*d", segmentNameDigits, base)
	return &segment{
		base:      base,
		logPath:   path.Join(dir, name+".log"),
		indexPath: path.Join(dir, name+".index"),
		end:       base,
		maxTime:   -1,
		created:   now,
	}
}

// parseSegmentName returns the base offset of a "<20 digits>.log" name.
func parseSegmentName(name string) (int64, bool) {
	digits, ok := strings.CutSuffix(name, ".log")
	if !ok || len(digits) != segmentNameDigits {
		return 0, false
	}
	base, err := strconv.ParseInt(digits, 10, 64)
	return base, err == nil && base >= 0
}

// add accounts for a batch that became visible at pos, keeping the sparse
// index one entry per interval bytes.
func (s *segment) add(h header, pos int64, interval int) {
	if pos > 0 && s.sinceIdx >= int64(interval) {
		s.idx = append(s.idx, indexEntry{rel: uint32(h.base - s.base), pos: uint32(pos), before: s.maxTime})
		s.sinceIdx = 0
	}
	s.sinceIdx += h.size
	s.maxTime = max(s.maxTime, h.maxTime)
	s.end = h.end()
	s.size = pos + h.size
}

// reset forgets the batches of s, before a rescan.
func (s *segment) reset() {
	s.size, s.end, s.maxTime, s.idx, s.sinceIdx, s.holes = 0, s.base, -1, nil, 0, nil
}

// scanResult reports where a scan stopped and why.
type scanResult struct {
	valid int64 // bytes of whole, valid batches from the start
	err   error // what was wrong at valid, nil if the scan reached size
}

// scanChunk is what scan reads at a time. Its buffers are pooled: a start
// after a crash scans the active segment of every log, and a fresh
// megabyte for each of a thousand logs kept the garbage collector busier
// than the reading.
const scanChunk = 1 << 20

var scanBufs = sync.Pool{New: func() any { b := make([]byte, 0, scanChunk); return &b }}

// scan reads the batches of f from position 0 to size, in order, checking
// lengths, offsets and (if verify) CRCs, and calls fn for each good one,
// with its bytes when verify is set (valid only during the call). It stops
// at the first batch that does not check out, or when fn returns false.
// Offsets must increase from base; with strict, each batch must start
// where the one before ended (the first at base): a log never compacted
// has no gaps, and the base offset is not covered by the CRC.
func scan(f io.ReaderAt, size, base int64, verify, strict bool, fn func(h header, pos int64, b []byte) bool) scanResult {
	const chunk = scanChunk
	bp := scanBufs.Get().(*[]byte)
	buf := (*bp)[:0]
	defer func() {
		if cap(buf) == chunk { // not one grown for a large batch
			*bp = buf[:0]
			scanBufs.Put(bp)
		}
	}()
	var bufPos int64 // file position of buf[0]
	next := base
	pos := int64(0)
	for pos < size {
		need := min(int64(batchHeaderSize), size-pos)
		b, err := window(f, &buf, &bufPos, pos, need, chunk, size)
		if err != nil {
			return scanResult{pos, err}
		}
		if need < batchHeaderSize {
			return scanResult{pos, fmt.Errorf("%w: %d trailing bytes, less than a header", ErrCorrupt, need)}
		}
		h, err := parseHeader(b)
		if err != nil {
			return scanResult{pos, err}
		}
		if pos+h.size > size {
			return scanResult{pos, fmt.Errorf("%w: batch of %d bytes at %d runs past the end (%d)", ErrCorrupt, h.size, pos, size)}
		}
		if h.base < next || (strict && h.base != next) {
			return scanResult{pos, fmt.Errorf("%w: batch offset %d, expected %d", ErrCorrupt, h.base, next)}
		}
		b = nil
		if verify {
			b, err = window(f, &buf, &bufPos, pos, h.size, chunk, size)
			if err != nil {
				return scanResult{pos, err}
			}
			if _, err := checkBatch(b); err != nil {
				return scanResult{pos, err}
			}
		}
		if !fn(h, pos, b) {
			return scanResult{pos + h.size, nil}
		}
		next = h.end()
		pos += h.size
	}
	return scanResult{pos, nil}
}

// window returns n bytes at pos, refilling buf from f in chunk-sized reads
// (or larger, for a batch bigger than a chunk).
func window(f io.ReaderAt, buf *[]byte, bufPos *int64, pos, n int64, chunk, size int64) ([]byte, error) {
	if pos >= *bufPos && pos+n <= *bufPos+int64(len(*buf)) {
		off := pos - *bufPos
		return (*buf)[off : off+n], nil
	}
	want := min(max(n, chunk), size-pos)
	if int64(cap(*buf)) < want {
		*buf = make([]byte, want)
	}
	*buf = (*buf)[:want]
	*bufPos = pos
	got, err := f.ReadAt(*buf, pos)
	if err != nil && !errors.Is(err, io.EOF) {
		*buf = (*buf)[:0]
		return nil, err
	}
	clear((*buf)[got:]) // a file shorter than size reads as zeros, not as stale bytes
	return (*buf)[:n], nil
}

// loadIndex reads s's index file and adopts it if it describes the segment
// file of the given size exactly.
func (s *segment) loadIndex(fsys fs.FS, logSize int64) bool {
	f, err := fsys.Open(s.indexPath)
	if err != nil {
		return false
	}
	defer f.Close()
	n, err := f.Size()
	if err != nil || n > 1<<30 {
		return false
	}
	b := make([]byte, n)
	if _, err := f.ReadAt(b, 0); err != nil && !errors.Is(err, io.EOF) {
		return false
	}
	x, err := unmarshalIndex(b)
	if err != nil || x.logSize != logSize || x.base != s.base {
		return false
	}
	s.size, s.end, s.maxTime, s.idx = logSize, x.end, x.maxTime, x.entries
	return true
}

// indexFile snapshots the index of s; the caller holds the log's mu or
// owns s.
func (s *segment) indexFile() *indexFile {
	return &indexFile{logSize: s.size, base: s.base, end: s.end, maxTime: s.maxTime, entries: s.idx}
}

// writeIndex saves the index of s. The file is not synced: a lost or torn
// index is detected and rebuilt.
func (s *segment) writeIndex(fsys fs.FS) error {
	return writeFile(fsys, s.indexPath, s.indexFile().marshal(), false)
}

// writeFile writes data to name through a temporary file and a rename, so
// the name holds either the old or the new content, never a mix. With
// durable, the content and the rename are synced.
func writeFile(fsys fs.FS, name string, data []byte, durable bool) error {
	tmp := name + ".tmp"
	f, err := fsys.Create(tmp)
	if err != nil {
		return err
	}
	if _, err := f.WriteAt(data, 0); err != nil {
		f.Close()
		return err
	}
	if durable {
		if err := f.Sync(); err != nil {
			f.Close()
			return err
		}
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := fsys.Rename(tmp, name); err != nil {
		return err
	}
	if durable {
		return fsys.SyncDir(path.Dir(name))
	}
	return nil
}
