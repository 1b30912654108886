package logstore

import (
	"bytes"
	"errors"
	"testing"

	"github.com/loftmq/loft/internal/fs"
)

func TestReadRegionMatchesRead(t *testing.T) {
	mem := fs.NewMem()
	s := openStore(t, mem, testOptions(newClock()))
	defer s.Close()
	l, _ := s.Create("t", smallConfig(8192))
	for i := range 100 {
		mustAppend(t, l, batch(i, 1+i%4, 0))
	}
	for off := int64(0); off < l.HighWatermark(); off += 13 {
		for _, maxBytes := range []int{1, 500, 3000, 1 << 20} {
			want, err := l.Read(nil, off, maxBytes)
			if err != nil {
				t.Fatal(err)
			}
			r, err := l.ReadRegion(off, maxBytes)
			if err != nil {
				t.Fatal(err)
			}
			var got bytes.Buffer
			if _, err := r.WriteTo(&got); err != nil {
				t.Fatal(err)
			}
			r.Close()
			if !bytes.Equal(got.Bytes(), want) || r.Len != int64(len(want)) || r.Offset != baseOf(want) {
				t.Fatalf("region at %d/%d: %d bytes from %d, Read gives %d from %d",
					off, maxBytes, got.Len(), r.Offset, len(want), baseOf(want))
			}
		}
	}
	if r, err := l.ReadRegion(l.HighWatermark(), 100); r != nil || err != nil {
		t.Fatalf("region at the high watermark: %v, %v", r, err)
	}
}

func TestReadRegionNeverWritesADamagedBatch(t *testing.T) {
	mem := fs.NewMem()
	writeLog(t, mem, DefaultConfig(), 10)
	seg, _ := mem.ReadFile(activeSeg)
	seg[len(seg)-5] ^= 0xFF // inside the last batch
	mem.WriteFile(activeSeg, seg)
	s := openStore(t, mem, testOptions(newClock()))
	defer s.Close()
	l, _ := s.Log("t")
	r, err := l.ReadRegion(0, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var got bytes.Buffer
	n, err := r.WriteTo(&got)
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("WriteTo over a damaged batch: %v, want ErrCorrupt", err)
	}
	if int64(got.Len()) != n || n >= r.Len || len(SplitBatches(got.Bytes())) != 9 {
		t.Fatalf("wrote %d bytes (%d batches) of %d", n, len(SplitBatches(got.Bytes())), r.Len)
	}
}
