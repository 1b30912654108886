package broker

import (
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestPartitionForMatchesKafka checks PartitionFor against franz-go's
// Kafka-compatible key partitioner, for keys of every tail length.
func TestPartitionForMatchesKafka(t *testing.T) {
	kafka := kgo.StickyKeyPartitioner(nil).ForTopic("t")
	for _, n := range []int{1, 3, 8, 100} {
		for i := range 200 {
			key := []byte(fmt.Sprintf("order.%d", i))[:min(i%12, len(fmt.Sprintf("order.%d", i)))]
			want := kafka.Partition(&kgo.Record{Key: key}, n)
			if len(key) == 0 {
				continue // franz-go spreads keyless records; Loft hashes the empty key
			}
			if got := PartitionFor(key, int32(n)); int(got) != want {
				t.Fatalf("key %q over %d: %d, Kafka's %d", key, n, got, want)
			}
		}
	}
}
