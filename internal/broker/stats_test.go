package broker

import (
	"testing"

	"github.com/loftmq/loft/internal/fs"
)

// TestPartitionStats produces batches, one of them a duplicate of an
// idempotent producer (not stored again, not counted), reads the partition
// back, and checks the counts against what was done.
func TestPartitionStats(t *testing.T) {
	e := openEnv(t, fs.NewMem(), nil)
	e.create(t, "s", 2, nil)
	p := e.partition(t, "s", 1)

	b1, b2 := batch(3, 0, 1000), idemBatch(7, 0, 0, 2, 3, 1003)
	mustProduce(t, p, b1)
	mustProduce(t, p, append([]byte(nil), b2...))
	mustProduce(t, p, append([]byte(nil), b2...)) // the retry of a duplicate
	out, err := p.Read(nil, 0, 1<<20)
	if err != nil {
		t.Fatal(err)
	}

	got := p.Stats()
	want := PartitionStats{Topic: "s", Partition: 1, StartOffset: 0, EndOffset: 5, Bytes: int64(len(b1) + len(b2)),
		ProducedRecords: 5, ProducedBatches: 2, ProducedBytes: uint64(len(b1) + len(b2)), FetchedBytes: uint64(len(out))}
	if got != want {
		t.Fatalf("stats\n got %+v\nwant %+v", got, want)
	}
	all := e.b.Stats()
	if len(all) != 2 || all[0].Partition != 0 || all[0].EndOffset != 0 || all[1] != want {
		t.Fatalf("broker stats %+v", all)
	}
}
