package broker

import (
	"errors"
	"math"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/loftmq/loft/internal/fs"
	"github.com/loftmq/loft/internal/fs/faultfs"
	"github.com/loftmq/loft/internal/logstore"
)

func newProducer(t *testing.T, e *env) int64 {
	t.Helper()
	id, epoch, err := e.b.InitProducerID(ctx)
	if err != nil || epoch != 0 {
		t.Fatalf("InitProducerID: %d %d %v", id, epoch, err)
	}
	return id
}

func TestInitProducerIDUnique(t *testing.T) {
	e := openEnv(t, fs.NewMem(), nil)
	seen := map[int64]bool{}
	for range 2*pidBlock + 10 {
		id := newProducer(t, e)
		if seen[id] || id < 0 {
			t.Fatalf("id %d twice or negative", id)
		}
		seen[id] = true
	}
}

func TestIdempotentDuplicate(t *testing.T) {
	e := openEnv(t, fs.NewMem(), nil)
	e.create(t, "i", 1, nil)
	p := e.partition(t, "i", 0)
	pid := newProducer(t, e)
	mustProduce(t, p, batch(2, 0, 1)) // someone else's records first
	r0 := mustProduce(t, p, idemBatch(pid, 0, 0, 3, 0, 1))
	r1 := mustProduce(t, p, idemBatch(pid, 0, 3, 2, 0, 1))
	if r0.BaseOffset != 2 || r1.BaseOffset != 5 {
		t.Fatalf("offsets %d %d", r0.BaseOffset, r1.BaseOffset)
	}
	for _, tc := range []struct {
		seq  int32
		n    int
		want int64
	}{{0, 3, 2}, {3, 2, 5}, {0, 3, 2}} {
		r := mustProduce(t, p, idemBatch(pid, 0, tc.seq, tc.n, 0, 1))
		if r.BaseOffset != tc.want {
			t.Fatalf("duplicate of seq %d: offset %d, want %d", tc.seq, r.BaseOffset, tc.want)
		}
	}
	if hw := p.HighWatermark(); hw != 7 {
		t.Fatalf("duplicates were stored: hw %d", hw)
	}
	// The same first sequence with another length is not a duplicate.
	wantErr(t, "seq 0 with 4 records", produce(p, idemBatch(pid, 0, 0, 4, 0, 1)).Err, ErrOutOfOrderSequence)
	mustProduce(t, p, idemBatch(pid, 0, 5, 1, 0, 1))
}

func TestIdempotentSequenceErrors(t *testing.T) {
	e := openEnv(t, fs.NewMem(), nil)
	e.create(t, "s", 1, nil)
	p := e.partition(t, "s", 0)
	pid := newProducer(t, e)

	// A producer the partition does not know starts at 0 in an empty
	// partition (KAFKA-15591).
	wantErr(t, "first seq 7 in an empty partition", produce(p, idemBatch(pid, 0, 7, 1, 0, 1)).Err, ErrOutOfOrderSequence)
	mustProduce(t, p, idemBatch(pid, 0, 0, 5, 0, 1))
	wantErr(t, "gap", produce(p, idemBatch(pid, 0, 6, 1, 0, 1)).Err, ErrOutOfOrderSequence)
	wantErr(t, "behind", produce(p, idemBatch(pid, 0, 4, 1, 0, 1)).Err, ErrOutOfOrderSequence)
	mustProduce(t, p, idemBatch(pid, 0, 5, 1, 0, 1))

	// A new epoch must start at 0; an old one is fenced.
	wantErr(t, "new epoch at seq 6", produce(p, idemBatch(pid, 1, 6, 1, 0, 1)).Err, ErrOutOfOrderSequence)
	mustProduce(t, p, idemBatch(pid, 1, 0, 1, 0, 1))
	wantErr(t, "old epoch", produce(p, idemBatch(pid, 0, 6, 1, 0, 1)).Err, ErrInvalidProducerEpoch)
	wantErr(t, "old epoch duplicate", produce(p, idemBatch(pid, 0, 5, 1, 0, 1)).Err, ErrInvalidProducerEpoch)
	mustProduce(t, p, idemBatch(pid, 1, 1, 1, 0, 1))

	// Once the partition has records, an unknown producer is accepted at
	// any sequence (Kafka since 2.5), and followed from there.
	other := newProducer(t, e)
	mustProduce(t, p, idemBatch(other, 3, 42, 2, 0, 1))
	wantErr(t, "gap after unknown start", produce(p, idemBatch(other, 3, 45, 1, 0, 1)).Err, ErrOutOfOrderSequence)
	mustProduce(t, p, idemBatch(other, 3, 44, 1, 0, 1))

	// Non-idempotent batches are not checked at all.
	mustProduce(t, p, batch(1, 0, 1))
	mustProduce(t, p, batch(1, 0, 1))
	if hw := p.HighWatermark(); hw != 13 {
		t.Fatalf("hw %d", hw)
	}
}

func TestIdempotentWindowOfFive(t *testing.T) {
	e := openEnv(t, fs.NewMem(), nil)
	e.create(t, "w", 1, nil)
	p := e.partition(t, "w", 0)
	pid := newProducer(t, e)
	for i := range 7 {
		if r := mustProduce(t, p, idemBatch(pid, 0, int32(i), 1, 0, 1)); r.BaseOffset != int64(i) {
			t.Fatalf("offset %d", r.BaseOffset)
		}
	}
	for i := 2; i < 7; i++ {
		if r := mustProduce(t, p, idemBatch(pid, 0, int32(i), 1, 0, 1)); r.BaseOffset != int64(i) {
			t.Fatalf("duplicate %d: offset %d", i, r.BaseOffset)
		}
	}
	// Older than the last five: Kafka can no longer tell, and refuses it.
	wantErr(t, "duplicate of the sixth last", produce(p, idemBatch(pid, 0, 1, 1, 0, 1)).Err, ErrOutOfOrderSequence)
}

func TestIdempotentSequenceWraps(t *testing.T) {
	e := openEnv(t, fs.NewMem(), nil)
	e.create(t, "wrap", 1, nil)
	p := e.partition(t, "wrap", 0)
	mustProduce(t, p, batch(1, 0, 1))
	pid := newProducer(t, e)
	// Records at MaxInt32-1, MaxInt32, 0: the next batch starts at 1.
	mustProduce(t, p, idemBatch(pid, 0, math.MaxInt32-1, 3, 0, 1))
	wantErr(t, "no wrap", produce(p, idemBatch(pid, 0, math.MaxInt32, 1, 0, 1)).Err, ErrOutOfOrderSequence)
	mustProduce(t, p, idemBatch(pid, 0, 1, 1, 0, 1))
	if r := mustProduce(t, p, idemBatch(pid, 0, math.MaxInt32-1, 3, 0, 1)); r.BaseOffset != 1 {
		t.Fatalf("duplicate across the wrap: %d", r.BaseOffset)
	}
	for _, tc := range []struct{ seq, n, last int32 }{
		{0, 1, 0}, {5, 3, 7}, {math.MaxInt32, 1, math.MaxInt32}, {math.MaxInt32, 2, 0},
		{math.MaxInt32 - 1, 3, 0}, {math.MaxInt32 - 1, 4, 1}, {math.MaxInt32 - 10, math.MaxInt32, math.MaxInt32 - 12},
	} {
		if got := addSeq(tc.seq, tc.n-1); got != tc.last {
			t.Errorf("last sequence of %d records from %d = %d, want %d", tc.n, tc.seq, got, tc.last)
		}
	}
}

// A producer pipelining batches: each is checked against the ones still in
// flight, and a retry of one in flight waits for it and gets its offset.
func TestIdempotentPipelined(t *testing.T) {
	gate := make(chan struct{})
	entered := make(chan struct{}, 1)
	var once sync.Once
	inj := faultfs.InjectorFunc(func(op faultfs.Op, path string) error {
		if op == faultfs.OpSync && strings.Contains(path, "/pipe-0/") && strings.HasSuffix(path, ".log") {
			once.Do(func() { entered <- struct{}{}; <-gate })
		}
		return nil
	})
	e := openEnv(t, faultfs.New(fs.NewMem(), inj), nil)
	e.create(t, "pipe", 1, nil)
	p := e.partition(t, "pipe", 0)
	pid := newProducer(t, e)

	results := make([]chan ProduceResult, 0)
	send := func(seq int32, n int) {
		ch := make(chan ProduceResult, 1)
		p.Produce(idemBatch(pid, 0, seq, n, 0, 1), func(r ProduceResult) { ch <- r })
		results = append(results, ch)
	}
	send(0, 2)
	<-entered // the first batch's sync is held
	send(2, 2)
	send(0, 2) // retry of the first, in flight
	send(4, 2)
	send(2, 2) // retry of the second, in flight
	badCh := make(chan ProduceResult, 1)
	p.Produce(idemBatch(pid, 0, 9, 1, 0, 1), func(r ProduceResult) { badCh <- r })
	wantErr(t, "gap while in flight", (<-badCh).Err, ErrOutOfOrderSequence)
	close(gate)
	want := []int64{0, 2, 0, 4, 2}
	for i, ch := range results {
		r := <-ch
		if r.Err != nil || r.BaseOffset != want[i] {
			t.Fatalf("produce %d: %+v, want offset %d", i, r, want[i])
		}
	}
	if hw := p.HighWatermark(); hw != 6 {
		t.Fatalf("hw %d", hw)
	}
}

// Many producers pipelining concurrently, some retrying: every record is
// stored exactly once, in sequence order per producer.
func TestIdempotentConcurrent(t *testing.T) {
	e := openEnv(t, fs.NewMem(), nil)
	e.create(t, "cc", 1, nil)
	p := e.partition(t, "cc", 0)
	const producers, batches = 6, 60
	var wg sync.WaitGroup
	errs := make(chan error, producers*batches*2)
	pids := make([]int64, producers)
	for i := range pids {
		pids[i] = newProducer(t, e)
	}
	for _, pid := range pids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var inner sync.WaitGroup
			for i := range batches {
				for range 1 + i%3/2 { // every third batch is sent twice
					inner.Add(1)
					p.Produce(idemBatch(pid, 0, int32(i*2), 2, i, 1), func(r ProduceResult) {
						if r.Err != nil {
							errs <- r.Err
						}
						inner.Done()
					})
				}
			}
			inner.Wait()
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if hw := p.HighWatermark(); hw != producers*batches*2 {
		t.Fatalf("hw %d, want %d", hw, producers*batches*2)
	}
	// Each producer's batches are in sequence order.
	next := map[int64]int32{}
	buf, err := p.Read(nil, 0, 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range logstore.SplitBatches(buf) {
		h := readHeader(b)
		if h.firstSeq != next[h.pid] {
			t.Fatalf("producer %d: sequence %d, want %d", h.pid, h.firstSeq, next[h.pid])
		}
		next[h.pid] += 2
	}
}

// A failed append fails the batches queued behind it too, and rolls the
// producer's state back: the retries, with the same sequences, succeed.
func TestIdempotentFailedAppendRetry(t *testing.T) {
	gate := make(chan struct{})
	entered := make(chan struct{}, 1)
	var once sync.Once
	inj := faultfs.InjectorFunc(func(op faultfs.Op, path string) error {
		if op != faultfs.OpSync || !strings.Contains(path, "/f-0/") || !strings.HasSuffix(path, ".log") {
			return nil
		}
		var err error
		once.Do(func() {
			entered <- struct{}{}
			<-gate
			err = syscall.EIO
		})
		return err
	})
	e := openEnv(t, faultfs.New(fs.NewMem(), inj), nil)
	e.create(t, "f", 1, nil)
	p := e.partition(t, "f", 0)
	pid := newProducer(t, e)

	var chans []chan ProduceResult
	send := func(seq int32) chan ProduceResult {
		ch := make(chan ProduceResult, 1)
		p.Produce(idemBatch(pid, 0, seq, 1, int(seq), 1), func(r ProduceResult) { ch <- r })
		return ch
	}
	chans = append(chans, send(0))
	<-entered
	chans = append(chans, send(1), send(2))
	dup := send(1) // a retry of a batch in flight shares its fate
	close(gate)
	for i, ch := range append(chans, dup) {
		wantErr(t, "batch "+string(rune('0'+i)), (<-ch).Err, ErrStorage)
	}
	if hw := p.HighWatermark(); hw != 0 {
		t.Fatalf("hw %d after a failed append", hw)
	}
	wantErr(t, "retry out of order", produce(p, idemBatch(pid, 0, 1, 1, 1, 1)).Err, ErrOutOfOrderSequence)
	for seq := range int32(3) {
		if r := mustProduce(t, p, idemBatch(pid, 0, seq, 1, int(seq), 1)); r.BaseOffset != int64(seq) {
			t.Fatalf("retry %d: offset %d", seq, r.BaseOffset)
		}
	}
	recs := readAll(t, p)
	if len(recs) != 3 {
		t.Fatalf("%d records", len(recs))
	}
	for i, r := range recs {
		if string(r.Key) != "k"+string(rune('0'+i)) {
			t.Fatalf("record %d key %s", i, r.Key)
		}
	}
}

func TestProducerStateSurvivesRestart(t *testing.T) {
	mem := fs.NewMem()
	e := openEnv(t, mem, nil)
	e.create(t, "ps", 1, map[string]string{MessageTimestampType: LogAppendTime})
	p := e.partition(t, "ps", 0)
	pid := newProducer(t, e)
	fenced := newProducer(t, e)
	mustProduce(t, p, idemBatch(fenced, 0, 0, 1, 0, 1))
	mustProduce(t, p, idemBatch(fenced, 1, 0, 1, 0, 1))
	var first ProduceResult
	for i := range 4 {
		r := mustProduce(t, p, idemBatch(pid, 0, int32(i*2), 2, 0, 1))
		if i == 0 {
			first = r
		}
		e.clock.Add(1000)
	}
	check := func(e *env) {
		t.Helper()
		p := e.partition(t, "ps", 0)
		r := mustProduce(t, p, idemBatch(pid, 0, 0, 2, 0, 1))
		if r.BaseOffset != first.BaseOffset || r.LogAppendTime != first.LogAppendTime {
			t.Fatalf("duplicate after restart: %+v, want %+v", r, first)
		}
		wantErr(t, "gap after restart", produce(p, idemBatch(pid, 0, 10, 1, 0, 1)).Err, ErrOutOfOrderSequence)
		wantErr(t, "fenced after restart", produce(p, idemBatch(fenced, 0, 1, 1, 0, 1)).Err, ErrInvalidProducerEpoch)
	}
	e = e.reopen(t)
	check(e)
	hw := e.partition(t, "ps", 0).HighWatermark()
	mem.Crash() // and after a crash, with no clean shutdown
	e = openEnv(t, mem, nil)
	check(e)
	p = e.partition(t, "ps", 0)
	if p.HighWatermark() != hw {
		t.Fatalf("hw %d, want %d", p.HighWatermark(), hw)
	}
	mustProduce(t, p, idemBatch(pid, 0, 8, 1, 0, 1))
}

func TestDeleteRecordsForgetsProducers(t *testing.T) {
	e := openEnv(t, fs.NewMem(), nil)
	e.create(t, "dr", 1, nil)
	p := e.partition(t, "dr", 0)
	pid := newProducer(t, e)
	mustProduce(t, p, idemBatch(pid, 0, 0, 1, 0, 1))
	wantErr(t, "gap", produce(p, idemBatch(pid, 0, 7, 1, 0, 1)).Err, ErrOutOfOrderSequence)
	if _, err := p.DeleteRecordsBefore(ctx, -1); err != nil {
		t.Fatal(err)
	}
	// Its records are gone, and so is its state: any sequence is taken.
	mustProduce(t, p, idemBatch(pid, 0, 7, 1, 0, 1))
}

func TestProduceAfterLogFailureReportsStorage(t *testing.T) {
	sw := &faultfs.Switch{}
	e := openEnv(t, faultfs.New(fs.NewMem(), sw), nil)
	e.create(t, "st", 1, nil)
	p := e.partition(t, "st", 0)
	sw.Set(faultfs.PathContains("/st-0/", faultfs.OnOp(faultfs.OpWrite, syscall.ENOSPC)))
	r := produce(p, batch(1, 0, 1))
	wantErr(t, "write fails", r.Err, ErrStorage)
	if !errors.Is(r.Err, ErrStorage) || r.BaseOffset != -1 {
		t.Fatalf("%+v", r)
	}
	sw.Clear()
	mustProduce(t, p, batch(1, 0, 1))
}

func TestProducerStateExpires(t *testing.T) {
	e := openEnv(t, fs.NewMem(), nil)
	e.create(t, "ex", 1, nil)
	p := e.partition(t, "ex", 0)
	old, active := newProducer(t, e), newProducer(t, e)
	mustProduce(t, p, idemBatch(old, 0, 0, 1, 0, 1))
	mustProduce(t, p, idemBatch(active, 0, 0, 1, 0, 1))
	e.clock.Add(producerExpiration / 2)
	mustProduce(t, p, idemBatch(active, 0, 1, 1, 0, 1))
	e.clock.Add(producerExpiration/2 + time.Minute)
	mustProduce(t, p, idemBatch(active, 0, 2, 1, 0, 1))
	p.mu.Lock()
	_, oldKept := p.producers[old]
	_, activeKept := p.producers[active]
	p.mu.Unlock()
	if oldKept || !activeKept {
		t.Fatalf("after a day: idle producer kept %v, active producer kept %v", oldKept, activeKept)
	}
	// The expired producer is unknown now: any sequence is accepted.
	mustProduce(t, p, idemBatch(old, 0, 9, 1, 0, 1))
	wantErr(t, "active producer still checked", produce(p, idemBatch(active, 0, 9, 1, 0, 1)).Err, ErrOutOfOrderSequence)
}
