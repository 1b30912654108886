package broker

import (
	"sync"
	"testing"

	"github.com/loftmq/loft/internal/fs"
	"github.com/loftmq/loft/internal/logstore"
	"github.com/loftmq/loft/internal/meta"
)

// BenchmarkProduce measures the broker's own cost per batch (checks,
// idempotence, callbacks) over the OS file system without fsync:
// 10 records of 100 bytes per batch, 8 producers pipelining to one
// partition.
func BenchmarkProduce(b *testing.B) {
	for _, idem := range []bool{false, true} {
		name := "plain"
		if idem {
			name = "idempotent"
		}
		b.Run(name, func(b *testing.B) {
			ls, err := logstore.Open(fs.OS(), b.TempDir(), logstore.Options{
				Logger: quiet, CleanInterval: -1, Fsync: logstore.FsyncPolicy{Mode: logstore.FsyncNever},
			})
			if err != nil {
				b.Fatal(err)
			}
			defer ls.Close()
			md, err := meta.Open(ls)
			if err != nil {
				b.Fatal(err)
			}
			defer md.Close()
			br, err := Open(ls, md, Options{Logger: quiet})
			if err != nil {
				b.Fatal(err)
			}
			defer br.Close()
			tp, err := br.CreateTopic(ctx, TopicSpec{Name: "bench", Partitions: 1}, false)
			if err != nil {
				b.Fatal(err)
			}
			p, _ := tp.Partition(0)
			recs := make([]logstore.Record, 10)
			for i := range recs {
				recs[i] = logstore.Record{Offset: int64(i), Timestamp: 1, Value: make([]byte, 100)}
			}
			const producers = 8
			per := b.N/producers + 1
			b.SetBytes(int64(len(logstore.AppendBatch(nil, logstore.BatchOptions{ProducerID: -1}, recs))))
			b.ResetTimer()
			var wg sync.WaitGroup
			for range producers {
				pid, _, _ := br.InitProducerID(ctx)
				if !idem {
					pid = -1
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					var inner sync.WaitGroup
					sem := make(chan struct{}, 5) // in flight per producer, as Kafka's clients
					for i := range per {
						bt := logstore.AppendBatch(nil, logstore.BatchOptions{ProducerID: pid, BaseSequence: int32(i * 10)}, recs)
						sem <- struct{}{}
						inner.Add(1)
						p.Produce(bt, func(r ProduceResult) {
							if r.Err != nil {
								b.Error(r.Err)
							}
							<-sem
							inner.Done()
						})
					}
					inner.Wait()
				}()
			}
			wg.Wait()
		})
	}
}
