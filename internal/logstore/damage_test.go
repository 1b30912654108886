package logstore

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"path"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/loftmq/loft/internal/fs"
)

// stored is where one appended batch lies on disk.
type stored struct {
	b        []byte
	seg      string // segment file
	pos      int64
	from, to int64 // offsets [from, to)
}

// damageLog writes n batches of 1-3 records to log "t" in segments of
// segBytes, then closes the store cleanly (every segment keeps an index
// that matches it) or, with crash, loses power instead (FsyncAlways: every
// batch was synced, the unsynced indexes are lost). It returns the batches
// and where they lie.
func damageLog(t *testing.T, mem *fs.Mem, segBytes int64, n int, crash bool) []stored {
	t.Helper()
	s := openStore(t, mem, testOptions(newClock()))
	l, err := s.Create("t", smallConfig(segBytes))
	if err != nil {
		t.Fatal(err)
	}
	var out []stored
	for i := range n {
		b := batch(i, 1+i%3, int64(1000+i))
		off := mustAppend(t, l, b)
		b = bytes.Clone(b)
		putBase(b, off)
		out = append(out, stored{b: b, from: off, to: off + int64(1+i%3)})
	}
	if crash {
		mem.Crash()
	} else if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// Locate each batch in the segment files.
	names, _ := mem.ReadDir("data/t")
	i := 0
	for _, name := range names {
		if !strings.HasSuffix(name, ".log") {
			continue
		}
		seg := path.Join("data/t", name)
		data, _ := mem.ReadFile(seg)
		for pos := int64(0); pos < int64(len(data)); {
			if !bytes.Equal(data[pos:pos+int64(len(out[i].b))], out[i].b) {
				t.Fatalf("batch %d is not at %s:%d", i, seg, pos)
			}
			out[i].seg, out[i].pos = seg, pos
			pos += int64(len(out[i].b))
			i++
		}
	}
	if i != n {
		t.Fatalf("found %d of %d batches in the segment files", i, n)
	}
	return out
}

func putBase(b []byte, off int64) {
	for i := range 8 {
		b[i] = byte(off >> (56 - 8*i))
	}
}

// byteAt returns the byte at pos of a file.
func byteAt(mem *fs.Mem, name string, pos int64) byte {
	data, _ := mem.ReadFile(name)
	return data[pos]
}

// flip xors the byte at pos of a file with mask.
func flip(t *testing.T, mem *fs.Mem, name string, pos int64, mask byte) {
	t.Helper()
	data, err := mem.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	data[pos] ^= mask
	if err := mem.WriteFile(name, data); err != nil {
		t.Fatal(err)
	}
}

// corruptCounter counts Options.OnCorrupt calls and keeps the log output.
type corruptCounter struct {
	n   atomic.Int64
	mu  sync.Mutex
	out bytes.Buffer
}

func (c *corruptCounter) options() Options {
	o := testOptions(newClock())
	o.Logger = slog.New(slog.NewTextHandler(lockedWriter{c}, nil))
	o.OnCorrupt = func(log string) {
		if log == "t" {
			c.n.Add(1)
		}
	}
	return o
}

func (c *corruptCounter) logs() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.out.String()
}

type lockedWriter struct{ c *corruptCounter }

func (w lockedWriter) Write(p []byte) (int, error) {
	w.c.mu.Lock()
	defer w.c.mu.Unlock()
	return w.c.out.Write(p)
}

// checkDamaged reads every batch of want from l and checks that each one
// either reads back unchanged or, if it is listed in lost, fails with a
// *CorruptError whose range covers its offsets. It checks too that reading
// from the start runs past the damage by the offsets the errors give.
func checkDamaged(t *testing.T, l *Log, want []stored, lost map[int]bool) {
	t.Helper()
	for i, w := range want {
		for off := w.from; off < w.to; off++ {
			b, err := l.Read(nil, off, 1)
			if lost[i] {
				var ce *CorruptError
				if !errors.As(err, &ce) || !errors.Is(err, ErrCorrupt) {
					t.Fatalf("Read(%d) of damaged batch %d: %d bytes, %v; want a *CorruptError", off, i, len(b), err)
				}
				if ce.From > w.from || ce.To < w.to || ce.Log != "t" || ce.Segment != w.seg {
					t.Fatalf("Read(%d) of damaged batch %d (offsets [%d, %d) in %s): error says %v", off, i, w.from, w.to, w.seg, err)
				}
				continue
			}
			if err != nil || !bytes.Equal(b, w.b) {
				t.Fatalf("Read(%d) of intact batch %d: %d bytes, %v; want its %d bytes back", off, i, len(b), err, len(w.b))
			}
		}
	}
	// A reader stepping over the errors gets every intact batch, in order.
	var got [][]byte
	for off := l.StartOffset(); off < l.HighWatermark(); {
		b, err := l.Read(nil, off, 1<<16)
		var ce *CorruptError
		if errors.As(err, &ce) {
			if ce.To <= off {
				t.Fatalf("Read(%d): error does not move on: %v", off, err)
			}
			off = ce.To
			continue
		}
		if err != nil || len(b) == 0 {
			t.Fatalf("Read(%d): %d bytes, %v", off, len(b), err)
		}
		for _, bb := range SplitBatches(b) {
			got = append(got, bb)
			h, _ := parseHeader(bb)
			off = h.end()
		}
	}
	var intact [][]byte
	for i, w := range want {
		if !lost[i] {
			intact = append(intact, w.b)
		}
	}
	if len(got) != len(intact) {
		t.Fatalf("a reader stepping over damage got %d batches, want the %d intact ones", len(got), len(intact))
	}
	for i := range got {
		if !bytes.Equal(got[i], intact[i]) {
			t.Fatalf("a reader stepping over damage: batch %d differs", i)
		}
	}
}

// Damage at chosen places of one batch in the middle of a segment: a
// read of that batch is an error naming it, logged and counted once, and
// every other batch, those after it in the same segment included, is
// served; after a crash (the segment is scanned by recovery) as after a
// clean shutdown (its index is trusted and the damage is met by a read).
func TestDamagedBatchIsAnErrorAndTheRestServes(t *testing.T) {
	places := []struct {
		name string
		at   int64 // position in the batch
		mask byte
	}{
		{"base offset", offBaseOffset + 7, 0x01},
		{"length, larger", offLength + 2, 0x01},
		{"length, smaller", offLength + 3, 0x08},
		{"magic", offMagic, 0xff},
		{"crc", offCRC + 1, 0x40},
		{"last offset delta", offLastDelta + 3, 0x01},
		{"record count", offRecordCount + 3, 0x02},
		{"record body", batchHeaderSize + 20, 0x20},
		{"last byte", -1, 0x80},
	}
	for _, crash := range []bool{false, true} {
		for _, in := range []string{"sealed", "active"} {
			for _, p := range places {
				t.Run(fmt.Sprintf("crash=%v/%s/%s", crash, in, p.name), func(t *testing.T) {
					mem := fs.NewMem()
					want := damageLog(t, mem, 2048, 60, crash)
					victim := 3 // in the first, sealed segment
					if in == "active" {
						victim = len(want) - 3
						for want[victim-1].seg != want[victim].seg {
							victim++
						}
					}
					w := want[victim]
					at := p.at
					if at < 0 {
						at = int64(len(w.b)) - 1
					}
					flip(t, mem, w.seg, w.pos+at, p.mask)
					var c corruptCounter
					s := openStore(t, mem, c.options())
					defer s.Close()
					l, _ := s.Log("t")
					if hw := l.HighWatermark(); hw != want[len(want)-1].to {
						t.Fatalf("high watermark %d after recovery, want %d: intact batches were dropped", hw, want[len(want)-1].to)
					}
					checkDamaged(t, l, want, map[int]bool{victim: true})
					checkDamaged(t, l, want, map[int]bool{victim: true}) // and again
					if n := c.n.Load(); n != 1 {
						t.Fatalf("OnCorrupt called %d times, want once for one damaged batch", n)
					}
					logs := c.logs()
					for _, s := range []string{"level=ERROR", "segment=" + w.seg, fmt.Sprintf("position=%d", w.pos),
						fmt.Sprintf("from_offset=%d", w.from), fmt.Sprintf("to_offset=%d", w.to)} {
						if !strings.Contains(logs, s) {
							t.Fatalf("log lacks %q:\n%s", s, logs)
						}
					}
					// The log goes on taking appends.
					hw := l.HighWatermark()
					if off := mustAppend(t, l, batch(99, 2, 0)); off != hw {
						t.Fatalf("append after damage at %d, want %d", off, hw)
					}
				})
			}
		}
	}
}

// A torn tail is still cut: bytes past the last sync, as a power loss
// leaves them (CrashTorn, seeded), never become a hole, so nothing reads
// as damage afterwards and every synced batch is there.
func TestTornTailIsCutNotKept(t *testing.T) {
	for seed := range uint64(40) {
		mem := fs.NewMem()
		var c corruptCounter
		s := openStore(t, mem, c.options())
		cfg := smallConfig(4096)
		l, _ := s.Create("t", cfg)
		var want [][]byte
		for i := range 30 {
			b := batch(i, 1+i%3, 0)
			mustAppend(t, l, b)
			want = append(want, b)
		}
		// Unsynced bytes after the synced ones in the active segment, as
		// a write in flight.
		names, _ := mem.ReadDir("data/t")
		var last string
		for _, n := range names {
			if strings.HasSuffix(n, ".log") {
				last = path.Join("data/t", n)
			}
		}
		f, err := mem.OpenFile(last)
		if err == nil {
			size, _ := f.Size()
			junk := bytes.Repeat(batch(77, 3, 0), 2)
			f.WriteAt(junk, size)
			f.Close()
		}
		mem.CrashTorn(rand.New(rand.NewPCG(seed, 7)))
		s = openStore(t, mem, c.options())
		l, _ = s.Log("t")
		got := readAll(t, l, 0)
		if len(got) < len(want) {
			t.Fatalf("seed %d: %d batches, want at least the %d synced", seed, len(got), len(want))
		}
		for i := range want {
			if !bytes.Equal(got[i], want[i]) {
				t.Fatalf("seed %d: batch %d differs", seed, i)
			}
		}
		if n := c.n.Load(); n != 0 {
			t.Fatalf("seed %d: a torn tail was reported as damage %d times:\n%s", seed, n, c.logs())
		}
		s.Close()
	}
}

// Random single-byte flips (seeded) anywhere in any segment file, after a
// clean shutdown or a power loss: at most the one batch holding the byte
// is lost, and it reads as an error, except the very last batch after a
// power loss, which recovery cannot tell from a torn write and cuts; every
// other batch is served. Flips in index files lose nothing.
func TestRandomFlipsLoseAtMostTheDamagedBatch(t *testing.T) {
	rounds := 120
	if testing.Short() {
		rounds = 40
	}
	r := rand.New(rand.NewPCG(8, 8))
	for round := range rounds {
		crash := round%2 == 1
		mem := fs.NewMem()
		want := damageLog(t, mem, 2048, 40, crash)
		names, _ := mem.ReadDir("data/t")
		var files []string
		for _, n := range names {
			if strings.HasSuffix(n, ".log") || strings.HasSuffix(n, ".index") {
				files = append(files, path.Join("data/t", n))
			}
		}
		name := files[r.IntN(len(files))]
		data, _ := mem.ReadFile(name)
		if len(data) == 0 {
			continue
		}
		pos := int64(r.IntN(len(data)))
		flip(t, mem, name, pos, byte(1+r.IntN(255)))
		victim := -1
		for i, w := range want {
			if w.seg == name && w.pos <= pos && pos < w.pos+int64(len(w.b)) {
				victim = i
				if at := pos - w.pos; at >= offLength+4 && at < offMagic {
					// The partition leader epoch: outside the CRC, as in
					// Kafka, and no part of the records. Served as stored.
					want[i].b = bytes.Clone(w.b)
					want[i].b[at] = byteAt(mem, name, pos)
					victim = -1
				}
			}
		}
		desc := fmt.Sprintf("round %d (crash=%v): byte %d of %s, batch %d", round, crash, pos, name, victim)
		var c corruptCounter
		s := openStore(t, mem, c.options())
		l, _ := s.Log("t")
		lost := map[int]bool{}
		if victim >= 0 {
			lost[victim] = true
		}
		if crash && victim == len(want)-1 {
			// The last batch of a power loss: cut as a torn write.
			if hw := l.HighWatermark(); hw != want[victim].from {
				t.Fatalf("%s: high watermark %d, want the damaged last batch cut at %d", desc, hw, want[victim].from)
			}
			want, lost = want[:victim], nil
		} else if hw := l.HighWatermark(); hw != want[len(want)-1].to {
			t.Fatalf("%s: high watermark %d, want %d", desc, hw, want[len(want)-1].to)
		}
		t.Run(fmt.Sprint(round), func(t *testing.T) { checkDamaged(t, l, want, lost) })
		if n := c.n.Load(); int(n) != len(lost) {
			t.Fatalf("%s: OnCorrupt called %d times, want %d", desc, n, len(lost))
		}
		s.Close()
	}
}

// Two damaged batches in one segment, one of them in the header: both
// read as errors, the batches around and between them are served, and
// a second recovery finds the same.
func TestTwoHolesInOneSegment(t *testing.T) {
	mem := fs.NewMem()
	want := damageLog(t, mem, 1<<20, 30, true)
	flip(t, mem, want[5].seg, want[5].pos+offLength+2, 0x10)
	flip(t, mem, want[9].seg, want[9].pos+batchHeaderSize+3, 0x01)
	for range 2 {
		var c corruptCounter
		s := openStore(t, mem, c.options())
		l, _ := s.Log("t")
		checkDamaged(t, l, want, map[int]bool{5: true, 9: true})
		if n := c.n.Load(); n != 2 {
			t.Fatalf("OnCorrupt called %d times, want 2", n)
		}
		s.Close()
	}
}

// A damaged index file is never trusted: every single-byte flip of a
// sealed segment's index makes recovery rebuild it from the segment (and
// save it again), so that every batch reads back and nothing is reported
// as damaged data.
func TestDamagedIndexIsRebuilt(t *testing.T) {
	mem := fs.NewMem()
	want := damageLog(t, mem, 2048, 40, false)
	idx := "data/t/00000000000000000000.index"
	orig, err := mem.ReadFile(idx)
	if err != nil {
		t.Fatal(err)
	}
	for pos := range int64(len(orig)) {
		flip(t, mem, idx, pos, 0x04)
		var c corruptCounter
		s := openStore(t, mem, c.options())
		l, _ := s.Log("t")
		checkDamaged(t, l, want, nil)
		if n := c.n.Load(); n != 0 {
			t.Fatalf("byte %d of the index: %d damaged ranges reported, want none", pos, n)
		}
		s.Close()
		if now, _ := mem.ReadFile(idx); !bytes.Equal(now, orig) {
			t.Fatalf("byte %d of the index: the rebuilt index differs from the original", pos)
		}
	}
}
