package kafka

import (
	"bytes"
	"context"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// BenchmarkProduceConsume produces 1 KiB records with acks=all through an
// in-process stack while a consumer reads them: a profile of this package's
// share of the path (go test -bench ProduceConsume -cpuprofile cpu.out).
func BenchmarkProduceConsume(b *testing.B) {
	s := startStack(b, stackOpts{})
	s.createTopic("bench", 8, nil)
	prod := s.client(kgo.DefaultProduceTopic("bench"), kgo.ProducerLinger(0))
	cons := s.client(kgo.ConsumeTopics("bench"), kgo.FetchMaxWait(100*time.Millisecond))
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for ctx.Err() == nil {
			cons.PollFetches(ctx)
		}
	}()
	value := bytes.Repeat([]byte{'v'}, 1024)
	b.SetBytes(int64(len(value)))
	b.ResetTimer()
	var pwg sync.WaitGroup
	for range b.N {
		pwg.Add(1)
		prod.Produce(ctx, &kgo.Record{Value: value}, func(_ *kgo.Record, err error) {
			if err != nil {
				b.Error(err)
			}
			pwg.Done()
		})
	}
	pwg.Wait()
	b.StopTimer()
	cancel()
	wg.Wait()
}
