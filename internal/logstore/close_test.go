package logstore

import (
	"testing"

	"github.com/loftmq/loft/internal/fs"
	"github.com/loftmq/loft/internal/fs/faultfs"
)

// TestCloseKeepsUnchangedIndex: a log reopened after a clean close and
// not written to closes without writing its index again (no file is
// created, nothing synced), while one written to saves its new index.
func TestCloseKeepsUnchangedIndex(t *testing.T) {
	mem := fs.NewMem()
	want := writeLog(t, mem, DefaultConfig(), 10)

	counted := faultfs.New(mem, faultfs.Any())
	s := openStore(t, counted, testOptions(newClock()))
	l, _ := s.Log("t")
	if got := readAll(t, l, 0); len(got) != len(want) {
		t.Fatalf("read %d batches, want %d", len(got), len(want))
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if n := counted.Count(faultfs.OpCreate) + counted.Count(faultfs.OpSync); n != 0 {
		t.Errorf("closing an unchanged log created or synced %d times", n)
	}

	s = openStore(t, counted, testOptions(newClock()))
	l, _ = s.Log("t")
	mustAppend(t, l, batch(10, 1, 2000))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if counted.Count(faultfs.OpCreate) == 0 {
		t.Error("closing a log written to did not save its index")
	}

	// The saved index is the one the next open trusts: all 11 batches.
	mem.Crash()
	s = openStore(t, mem, testOptions(newClock()))
	defer s.Close()
	l, _ = s.Log("t")
	if got := readAll(t, l, 0); len(got) != len(want)+1 {
		t.Fatalf("after a crash, read %d batches, want %d", len(got), len(want)+1)
	}
}
