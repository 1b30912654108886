package logstore

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/loftmq/loft/internal/fs"
)

const activeSeg = "data/t/00000000000000000000.log"

// writeLog appends n batches to a fresh log "t" and closes the store.
func writeLog(t *testing.T, mem *fs.Mem, cfg Config, n int) [][]byte {
	t.Helper()
	s := openStore(t, mem, testOptions(newClock()))
	l, err := s.Create("t", cfg)
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for i := range n {
		b := batch(i, 1+i%3, int64(1000+i))
		mustAppend(t, l, b)
		out = append(out, b)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestRecoveryCutsDamagedTail(t *testing.T) {
	tests := []struct {
		name      string
		damage    func(seg []byte) []byte
		surviving int // batches expected back
	}{
		{"garbage appended", func(b []byte) []byte { return append(b, bytes.Repeat([]byte{0xAB}, 100)...) }, 10},
		{"torn last batch", func(b []byte) []byte { return b[:len(b)-7] }, 9},
		{"header only", func(b []byte) []byte { return append(b, batch(99, 1, 0)[:61]...) }, 10},
		{"flipped bit in last batch", func(b []byte) []byte { b[len(b)-3] ^= 0x10; return b }, 9},
		{"zeros (preallocated space)", func(b []byte) []byte { return append(b, make([]byte, 4096)...) }, 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mem := fs.NewMem()
			want := writeLog(t, mem, DefaultConfig(), 10)
			// Damage the active segment; drop its clean-shutdown index so
			// recovery must scan.
			seg, err := mem.ReadFile(activeSeg)
			if err != nil {
				t.Fatal(err)
			}
			if err := mem.WriteFile(activeSeg, tt.damage(seg)); err != nil {
				t.Fatal(err)
			}
			if err := mem.Remove("data/t/00000000000000000000.index"); err != nil {
				t.Fatal(err)
			}
			s := openStore(t, mem, testOptions(newClock()))
			defer s.Close()
			l, _ := s.Log("t")
			got := readAll(t, l, 0)
			if len(got) != tt.surviving {
				t.Fatalf("%d batches after recovery, want %d", len(got), tt.surviving)
			}
			for i := range got {
				if !bytes.Equal(got[i], want[i]) {
					t.Fatalf("batch %d differs after recovery", i)
				}
			}
			next := l.HighWatermark()
			if off := mustAppend(t, l, batch(100, 2, 0)); off != next {
				t.Fatalf("append after recovery at %d, want %d", off, next)
			}
			if n := len(readAll(t, l, 0)); n != tt.surviving+1 {
				t.Fatalf("%d batches after appending, want %d", n, tt.surviving+1)
			}
		})
	}
}

func TestRecoveryRebuildsIndexes(t *testing.T) {
	mem := fs.NewMem()
	want := writeLog(t, mem, smallConfig(2048), 60)
	names, _ := mem.ReadDir("data/t")
	t.Log(names)
	damaged := 0
	for i, n := range names {
		if len(n) > 6 && n[len(n)-6:] == ".index" {
			switch i % 3 {
			case 0:
				mem.Remove("data/t/" + n)
			case 1:
				mem.WriteFile("data/t/"+n, []byte("garbage"))
			case 2:
				b, _ := mem.ReadFile("data/t/" + n)
				b[len(b)-1] ^= 1
				mem.WriteFile("data/t/"+n, b)
			}
			damaged++
		}
	}
	if damaged < 5 {
		t.Fatalf("only %d index files", damaged)
	}
	s := openStore(t, mem, testOptions(newClock()))
	defer s.Close()
	l, _ := s.Log("t")
	got := readAll(t, l, 0)
	if len(got) != len(want) {
		t.Fatalf("%d batches, want %d", len(got), len(want))
	}
	for off := int64(0); off < l.HighWatermark(); off++ {
		b, err := l.Read(nil, off, 1)
		if err != nil {
			t.Fatal(err)
		}
		if h, _ := parseHeader(b); h.base > off || h.last() < off {
			t.Fatalf("offset %d found batch [%d, %d]", off, h.base, h.last())
		}
	}
}

func TestCorruptSealedSegmentIsAnErrorNotData(t *testing.T) {
	mem := fs.NewMem()
	writeLog(t, mem, smallConfig(2048), 60)
	// Flip a byte inside the first batch of the first (sealed) segment.
	seg, _ := mem.ReadFile(activeSeg)
	seg[100] ^= 0xFF
	mem.WriteFile(activeSeg, seg)
	s := openStore(t, mem, testOptions(newClock()))
	defer s.Close()
	l, _ := s.Log("t")
	if _, err := l.Read(nil, 0, 1<<20); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("read of damaged batch: %v, want ErrCorrupt", err)
	}
	// Later segments still serve.
	if b, err := l.Read(nil, l.HighWatermark()-1, 1<<20); err != nil || len(b) == 0 {
		t.Fatalf("read past the damage: %d bytes, %v", len(b), err)
	}
}

func TestPowerLossRecoversLastDurableState(t *testing.T) {
	for _, torn := range []bool{false, true} {
		mem := fs.NewMem()
		c := newClock()
		s := openStore(t, mem, testOptions(c))
		l, _ := s.Create("t", smallConfig(4096))
		var want [][]byte
		for i := range 100 {
			b := batch(i, 1+i%5, 0)
			mustAppend(t, l, b)
			want = append(want, b)
		}
		// Crash without closing: every acknowledged append was synced.
		if torn {
			mem.CrashTorn(rand.New(rand.NewPCG(1, 2)))
		} else {
			mem.Crash()
		}
		s = openStore(t, mem, testOptions(c))
		l, ok := s.Log("t")
		if !ok {
			t.Fatal("log lost in the crash")
		}
		got := readAll(t, l, 0)
		if len(got) != len(want) {
			t.Fatalf("torn=%v: %d batches survived, want %d", torn, len(got), len(want))
		}
		for i := range got {
			if !bytes.Equal(got[i], want[i]) {
				t.Fatalf("torn=%v: batch %d differs", torn, i)
			}
		}
		s.Close()
	}
}
