package main

import (
	"context"
	crand "crypto/rand"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// kafkaWorkload is workload 7 on Loft's Kafka listener: a franz-go
// producer with its defaults (acks=all, idempotent, snappy, 10 ms linger)
// writing 1 KiB records to a topic of the given partitions while a
// consumer group reads it, against dd's synced 64 KiB writes to the same
// disk in the same run.
func kafkaWorkload(partitions int) workload {
	return workload{
		name: fmt.Sprintf("kafka-%d", partitions),
		description: fmt.Sprintf("Kafka protocol (Loft only): 200,000 records of 1 KiB, acks=all, to a topic of %d partition(s) "+
			"while a consumer group reads it; against dd bs=64k oflag=dsync (256 MiB, scaled) on the same disk just before", partitions),
		metrics:  []metric{produceMBps, consumeMBps, ddMBps, produceOverDD},
		loftOnly: true,
		run: func(ctx context.Context, cfg *config, r *running, name string) (outcome, error) {
			dd, err := ddReference(ctx, r.dir, cfg.scaled(4096))
			if err != nil {
				return outcome{}, err
			}
			n := cfg.scaled(200_000)
			res, err := runKafka(ctx, r.kafka, name, int32(partitions), n, cfg.stall)
			o := outcome{missing: res.missing, duplicates: res.duplicates}
			if err == nil {
				mb := float64(n) * 1024 / 1e6
				produce := mb / res.publishing.Seconds()
				o.values = map[string]float64{
					produceMBps.Key:   produce,
					consumeMBps.Key:   mb / res.endToEnd.Seconds(),
					ddMBps.Key:        dd,
					produceOverDD.Key: produce / dd,
				}
			}
			return o, err
		},
	}
}

// ddReference writes blocks × 64 KiB with dd oflag=dsync in dir and
// returns MB/s (10⁶ B/s).
func ddReference(ctx context.Context, dir string, blocks int) (float64, error) {
	out := filepath.Join(dir, "dd.out")
	defer os.Remove(out)
	cmd := exec.CommandContext(ctx, "dd", "if=/dev/zero", "of="+out, "bs=64k", fmt.Sprintf("count=%d", blocks), "oflag=dsync")
	start := time.Now()
	if msg, err := cmd.CombinedOutput(); err != nil {
		return 0, fmt.Errorf("dd: %v\n%s", err, msg)
	}
	return float64(blocks) * 65536 / 1e6 / time.Since(start).Seconds(), nil
}

// runKafka produces n verified records to a fresh topic and consumes them
// in a group at the same time.
func runKafka(ctx context.Context, addr, topic string, partitions int32, n int, stall time.Duration) (flowResult, error) {
	admin, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		return flowResult{}, err
	}
	defer admin.Close()
	adm := kadm.NewClient(admin)
	actx, cancel := context.WithTimeout(ctx, stall)
	defer cancel()
	if _, err := adm.CreateTopic(actx, partitions, 1, nil, topic); err != nil {
		return flowResult{}, fmt.Errorf("create topic %s: %w", topic, err)
	}
	defer func() {
		dctx, cancel := context.WithTimeout(context.Background(), stall)
		defer cancel()
		_, _ = adm.DeleteTopics(dctx, topic)
	}()

	t := newTally(1024, n, 1)
	consumer, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumerGroup(topic),
		kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		return flowResult{}, err
	}
	cctx, stopConsumer := context.WithCancel(ctx)
	consumed := make(chan struct{})
	go func() {
		defer close(consumed)
		for cctx.Err() == nil {
			fs := consumer.PollFetches(cctx)
			fs.EachError(func(_ string, _ int32, err error) {
				if cctx.Err() == nil {
					t.fail(fmt.Errorf("fetch: %w", err))
				}
			})
			fs.EachRecord(func(r *kgo.Record) { t.deliver(0, r.Value) })
		}
	}()
	defer func() { stopConsumer(); <-consumed; consumer.Close() }()

	producer, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic(topic))
	if err != nil {
		return flowResult{}, err
	}
	pctx, stopProducing := context.WithCancel(ctx)
	produced := make(chan struct{})
	defer func() { stopProducing(); <-produced; producer.Close() }()
	fillers := randomFillers()
	start := clock()
	go func() {
		defer close(produced)
		for seq := range n {
			if pctx.Err() != nil {
				return
			}
			v := make([]byte, 1024)
			copy(v[headerSize:], fillers[seq%len(fillers)])
			binary.BigEndian.PutUint64(v, uint64(seq))
			binary.BigEndian.PutUint64(v[8:], uint64(clock()))
			// Produce blocks while the client buffers its maximum
			// (10,000 records by default): that is its window.
			producer.Produce(pctx, &kgo.Record{Value: v}, func(_ *kgo.Record, err error) { t.confirm(seq, err) })
			t.published.Add(1)
		}
	}()
	var res flowResult
	err = t.wait(stall, ctx.Done())
	res.missing, res.duplicates = t.counts()
	if err != nil {
		return res, err
	}
	time.Sleep(200 * time.Millisecond)
	res.missing, res.duplicates = t.counts()
	res.endToEnd = t.lastAt - start
	res.publishing = time.Duration(t.lastConfirm.Load()) - start
	if res.missing > 0 {
		return res, fmt.Errorf("%w: %d", errLost, res.missing)
	}
	return res, nil
}

// randomFillers returns 256 different random 1 KiB fillers: the producer
// compresses batches with snappy, whose 64 KiB window would otherwise find
// every record repeating the last.
func randomFillers() [][]byte {
	fs := make([][]byte, 256)
	for i := range fs {
		fs[i] = make([]byte, 1024-headerSize)
		_, _ = crand.Read(fs[i])
	}
	return fs
}
