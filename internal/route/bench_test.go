package route

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

var (
	benchRegions  = []string{"eu-west-1", "eu-central-1", "us-east-1", "us-west-2", "ap-south-1", "ap-northeast-1", "sa-east-1", "ca-central-1"}
	benchServices = []string{"orders", "payments", "users", "inventory", "shipping", "billing", "search", "auth", "cart", "notify"}
	benchLevels   = []string{"debug", "info", "warn", "error"}
	benchEvents   = []string{"created", "updated", "deleted", "paid", "shipped", "failed"}
)

// benchTopic builds a router of n bindings shaped like a real topic
// exchange's: per-region and per-service subscriptions, log level filters,
// some exact keys and a few catch-alls.
func benchTopic(b *testing.B, n int) (*Router[int], []string) {
	rng := rand.New(rand.NewPCG(3, 5))
	pick := func(s []string) string { return s[rng.IntN(len(s))] }
	r := New[int](Topic)
	for i := 0; r.Len() < n; i++ {
		var p string
		switch i % 8 {
		case 0:
			p = fmt.Sprintf("%s.%s.*", pick(benchServices), pick(benchRegions))
		case 1:
			p = fmt.Sprintf("logs.#.%s", pick(benchLevels))
		case 2:
			p = fmt.Sprintf("%s.%s.%s.t%d", pick(benchServices), pick(benchRegions), pick(benchEvents), rng.IntN(500))
		case 3:
			p = fmt.Sprintf("logs.%s.%s.#", pick(benchServices), pick(benchRegions))
		case 4:
			p = fmt.Sprintf("*.%s.%s", pick(benchRegions), pick(benchEvents))
		case 5:
			p = fmt.Sprintf("%s.#", pick(benchServices))
		case 6:
			p = fmt.Sprintf("%s.*.%s.t%d", pick(benchServices), pick(benchEvents), rng.IntN(500))
		case 7:
			p = fmt.Sprintf("tenant%d.%s.#.%s", rng.IntN(1000), pick(benchServices), pick(benchEvents))
		}
		r.Bind(i, p, nil)
	}
	keys := make([]string, 1024)
	for i := range keys {
		switch i % 3 {
		case 0:
			keys[i] = fmt.Sprintf("%s.%s.%s.t%d", pick(benchServices), pick(benchRegions), pick(benchEvents), rng.IntN(500))
		case 1:
			keys[i] = fmt.Sprintf("logs.%s.%s.host%d.%s", pick(benchServices), pick(benchRegions), rng.IntN(50), pick(benchLevels))
		case 2:
			keys[i] = fmt.Sprintf("tenant%d.%s.%s.%s", rng.IntN(1000), pick(benchServices), pick(benchRegions), pick(benchEvents))
		}
	}
	return r, keys
}

func BenchmarkTopicRoute10k(b *testing.B) {
	r, keys := benchTopic(b, 10000)
	var dst []int
	var matched int
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		dst = r.Route(keys[i%len(keys)], nil, dst[:0])
		matched += len(dst)
		i++
	}
	b.ReportMetric(float64(matched)/float64(i), "dests/op")
}

// BenchmarkTopicPathological routes long keys through patterns built to
// make unmemoised backtracking exponential.
func BenchmarkTopicPathological(b *testing.B) {
	r := New[int](Topic)
	for i := range 100 {
		r.Bind(i, fmt.Sprintf("#.#.#.#.#.#.#.#.x%d", i), nil)
	}
	key := ""
	for i := range 100 {
		key += fmt.Sprintf("w%d.", i)
	}
	key += "x5"
	var dst []int
	for b.Loop() {
		dst = r.Route(key, nil, dst[:0])
	}
	if len(dst) != 1 {
		b.Fatalf("routed to %v", dst)
	}
}

func BenchmarkDirectRoute10k(b *testing.B) {
	r := New[int](Direct)
	for i := range 10000 {
		r.Bind(i, fmt.Sprint("key", i%5000), nil)
	}
	keys := make([]string, 5000)
	for i := range keys {
		keys[i] = fmt.Sprint("key", i)
	}
	var dst []int
	i := 0
	for b.Loop() {
		dst = r.Route(keys[i%len(keys)], nil, dst[:0])
		i++
	}
}
