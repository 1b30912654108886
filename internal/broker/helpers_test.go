package broker

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/loftmq/loft/internal/fs"
	"github.com/loftmq/loft/internal/logstore"
	"github.com/loftmq/loft/internal/meta"
)

var ctx = context.Background()

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// clock is a settable time source for Options.Now.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.UnixMilli(1_700_000_000_000)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// env is a broker on a real log store and metadata store.
type env struct {
	fsys  fs.FS
	clock *clock
	ls    *logstore.Store
	md    *meta.Store
	b     *Broker
}

func openEnv(t *testing.T, fsys fs.FS, c *clock) *env {
	t.Helper()
	e, err := tryOpenEnv(fsys, c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.close() })
	return e
}

func tryOpenEnv(fsys fs.FS, c *clock) (*env, error) {
	if c == nil {
		c = newClock()
	}
	ls, err := logstore.Open(fsys, "data", logstore.Options{Logger: quiet, CleanInterval: -1, Now: c.Now})
	if err != nil {
		return nil, err
	}
	md, err := meta.Open(ls)
	if err != nil {
		ls.Close()
		return nil, err
	}
	b, err := Open(ls, md, Options{AutoCreateTopics: true, Logger: quiet, Now: c.Now})
	if err != nil {
		md.Close()
		ls.Close()
		return nil, err
	}
	return &env{fsys: fsys, clock: c, ls: ls, md: md, b: b}, nil
}

// close shuts the broker and its stores down cleanly; it may be called more
// than once.
func (e *env) close() {
	e.b.Close()
	e.md.Close()
	e.ls.Close()
}

// reopen closes e cleanly and opens a new env on the same files.
func (e *env) reopen(t *testing.T) *env {
	t.Helper()
	e.close()
	return openEnv(t, e.fsys, e.clock)
}

func (e *env) create(t *testing.T, name string, partitions int32, configs map[string]string) *Topic {
	t.Helper()
	tp, err := e.b.CreateTopic(ctx, TopicSpec{Name: name, Partitions: partitions, Configs: configs}, false)
	if err != nil {
		t.Fatalf("CreateTopic %s: %v", name, err)
	}
	return tp
}

func (e *env) partition(t *testing.T, topic string, i int32) *Partition {
	t.Helper()
	tp, ok := e.b.Topic(topic)
	if !ok {
		t.Fatalf("topic %s missing", topic)
	}
	p, ok := tp.Partition(i)
	if !ok {
		t.Fatalf("partition %s-%d missing", topic, i)
	}
	return p
}

// batch builds a batch of n records with keys and values derived from
// first, timestamps ts, ts+1, ...
func batch(n int, first int, ts int64) []byte {
	return idemBatch(-1, -1, -1, n, first, ts)
}

func idemBatch(pid int64, epoch int16, seq int32, n int, first int, ts int64) []byte {
	recs := make([]logstore.Record, n)
	for i := range recs {
		k := []byte{byte('k'), byte('0' + (first+i)%10)}
		recs[i] = logstore.Record{Offset: int64(i), Timestamp: ts + int64(i), Key: k, Value: []byte("value-" + string(rune('a'+(first+i)%26)))}
	}
	return logstore.AppendBatch(nil, logstore.BatchOptions{ProducerID: pid, ProducerEpoch: epoch, BaseSequence: seq}, recs)
}

// produce produces b and waits for the result.
func produce(p *Partition, b []byte) ProduceResult {
	ch := make(chan ProduceResult, 1)
	p.Produce(b, func(r ProduceResult) { ch <- r })
	return <-ch
}

func mustProduce(t *testing.T, p *Partition, b []byte) ProduceResult {
	t.Helper()
	r := produce(p, b)
	if r.Err != nil {
		t.Fatalf("produce to %s-%d: %v", p.Topic(), p.Index(), r.Err)
	}
	return r
}

func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: err = %v, want %v", what, err, want)
	}
}

// readAll returns every record of p from its start to its high watermark.
func readAll(t *testing.T, p *Partition) []logstore.Record {
	t.Helper()
	var out []logstore.Record
	for off := p.LogStartOffset(); off < p.HighWatermark(); {
		buf, err := p.Read(nil, off, 1<<20)
		if err != nil {
			t.Fatalf("read %d: %v", off, err)
		}
		for _, b := range logstore.SplitBatches(buf) {
			recs, err := logstore.DecodeRecords(b)
			if err != nil {
				t.Fatalf("decode at %d: %v", off, err)
			}
			for _, r := range recs {
				if r.Offset >= off {
					out = append(out, r)
				}
			}
			end, _ := logstore.BatchEnd(b)
			off = end
		}
	}
	return out
}

func configValue(entries []ConfigEntry, name string) (ConfigEntry, bool) {
	for _, e := range entries {
		if e.Name == name {
			return e, true
		}
	}
	return ConfigEntry{}, false
}
