package logstore

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"sort"
)

// indexEntry marks a batch boundary inside a segment. It serves both
// lookups: by offset (rel) and by time (before: the largest timestamp of
// every batch ahead of this one in the segment, so every record before rel
// is at most before). One sparse array and one file serve both indexes.
type indexEntry struct {
	rel    uint32 // batch base offset minus segment base
	pos    uint32 // byte position of the batch in the segment
	before int64
}

// index is the sparse index of one segment. Entries only grow at the end
// while the segment is active; a reader copies the slice header under the
// log's lock and searches its prefix without locking.
type index []indexEntry

// byOffset returns the position and relative base offset of the last
// indexed batch whose base is at most rel, or 0, 0: scanning from there
// finds the batch holding rel.
func (x index) byOffset(rel uint32) (int64, uint32) {
	i := sort.Search(len(x), func(i int) bool { return x[i].rel > rel })
	if i == 0 {
		return 0, 0
	}
	return int64(x[i-1].pos), x[i-1].rel
}

// byTime returns the position of the last indexed batch before which every
// timestamp is below ts, or 0: the first record at or after ts lies at or
// beyond it.
func (x index) byTime(ts int64) int64 {
	i := sort.Search(len(x), func(i int) bool { return x[i].before >= ts })
	if i == 0 {
		return 0
	}
	return int64(x[i-1].pos)
}

// The index file of a sealed segment:
//
//	magic[8] logSize[8] base[8] end[8] maxTime[8] count[4] crc[4]
//	count × (rel[4] pos[4] before[8])
//
// logSize ties the index to the exact segment it describes: a segment that
// grew, was cut by recovery or rewritten by compaction no longer matches,
// and its index is rebuilt. The CRC-32C covers everything before and after
// itself.
const (
	indexMagic      = "LOFTIDX1"
	indexHeaderSize = 48
	indexEntrySize  = 16
)

var errBadIndex = errors.New("logstore: bad index file")

// indexFile is the decoded content of an index file.
type indexFile struct {
	logSize int64
	base    int64
	end     int64
	maxTime int64
	entries index
}

func (f *indexFile) marshal() []byte {
	b := make([]byte, indexHeaderSize, indexHeaderSize+len(f.entries)*indexEntrySize)
	copy(b, indexMagic)
	binary.BigEndian.PutUint64(b[8:], uint64(f.logSize))
	binary.BigEndian.PutUint64(b[16:], uint64(f.base))
	binary.BigEndian.PutUint64(b[24:], uint64(f.end))
	binary.BigEndian.PutUint64(b[32:], uint64(f.maxTime))
	binary.BigEndian.PutUint32(b[40:], uint32(len(f.entries)))
	for _, e := range f.entries {
		b = binary.BigEndian.AppendUint32(b, e.rel)
		b = binary.BigEndian.AppendUint32(b, e.pos)
		b = binary.BigEndian.AppendUint64(b, uint64(e.before))
	}
	binary.BigEndian.PutUint32(b[44:], indexCRC(b))
	return b
}

func indexCRC(b []byte) uint32 {
	c := crc32.Update(0, castagnoli, b[:44])
	return crc32.Update(c, castagnoli, b[indexHeaderSize:])
}

func unmarshalIndex(b []byte) (*indexFile, error) {
	if len(b) < indexHeaderSize || string(b[:8]) != indexMagic {
		return nil, errBadIndex
	}
	n := binary.BigEndian.Uint32(b[40:])
	if uint64(len(b)) != indexHeaderSize+uint64(n)*indexEntrySize {
		return nil, errBadIndex
	}
	if binary.BigEndian.Uint32(b[44:]) != indexCRC(b) {
		return nil, errBadIndex
	}
	f := &indexFile{
		logSize: int64(binary.BigEndian.Uint64(b[8:])),
		base:    int64(binary.BigEndian.Uint64(b[16:])),
		end:     int64(binary.BigEndian.Uint64(b[24:])),
		maxTime: int64(binary.BigEndian.Uint64(b[32:])),
		entries: make(index, n),
	}
	for i := range f.entries {
		e := b[indexHeaderSize+i*indexEntrySize:]
		f.entries[i] = indexEntry{
			rel:    binary.BigEndian.Uint32(e),
			pos:    binary.BigEndian.Uint32(e[4:]),
			before: int64(binary.BigEndian.Uint64(e[8:])),
		}
		if i > 0 {
			p := f.entries[i-1]
			if e := f.entries[i]; e.rel <= p.rel || e.pos <= p.pos || e.before < p.before {
				return nil, errBadIndex
			}
		}
	}
	if f.end < f.base || (n > 0 && int64(f.entries[n-1].pos) >= f.logSize) {
		return nil, errBadIndex
	}
	return f, nil
}
