package logstore

import (
	"encoding/binary"
	"testing"

	"github.com/loftmq/loft/internal/fs"
)

// TestReadHeaders walks batch headers across segments from the batch
// holding an offset to the end, and stops when told to.
func TestReadHeaders(t *testing.T) {
	s := openStore(t, fs.NewMem(), testOptions(newClock()))
	defer s.Close()
	l, err := s.Create("t", smallConfig(1024)) // a few batches a segment
	if err != nil {
		t.Fatal(err)
	}
	var bases []int64
	for i := range 40 {
		bases = append(bases, mustAppend(t, l, batch(i, 1+i%3, int64(1000+i))))
	}
	if l.Segments() < 3 {
		t.Fatalf("%d segments, want several", l.Segments())
	}
	for _, tt := range []struct {
		from  int64
		first int // index in bases of the first batch expected
	}{{0, 0}, {bases[7] + 1, 7}, {bases[39], 39}, {l.HighWatermark(), 40}} {
		var got []int64
		if err := l.ReadHeaders(tt.from, func(h []byte) bool {
			got = append(got, int64(binary.BigEndian.Uint64(h[offBaseOffset:])))
			return true
		}); err != nil {
			t.Fatalf("from %d: %v", tt.from, err)
		}
		want := bases[tt.first:]
		if len(got) != len(want) {
			t.Fatalf("from %d: %d headers, want %d", tt.from, len(got), len(want))
		}
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("from %d: header %d has base %d, want %d", tt.from, i, got[i], want[i])
			}
		}
	}
	n := 0
	if err := l.ReadHeaders(0, func([]byte) bool { n++; return n < 5 }); err != nil || n != 5 {
		t.Fatalf("stopped after %d headers (%v), want 5", n, err)
	}
}
