package broker

import (
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/loftmq/loft/internal/fs"
	"github.com/loftmq/loft/internal/fs/faultfs"
	"github.com/loftmq/loft/internal/logstore"
)

// powerCut is a file system that loses power at a chosen operation: once
// armed, the first call matching at crashes the in-memory disk, and that
// call and every later one through it fail, as for a process that died
// there. The disk itself reboots and can be opened again.
type powerCut struct {
	mem *fs.Mem
	at  func(op faultfs.Op, path string) bool

	mu    sync.Mutex
	armed bool
	dead  bool
}

func (c *powerCut) MaybeError(op faultfs.Op, path string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.armed && !c.dead && c.at(op, path) {
		c.mem.Crash()
		c.dead = true
	}
	if c.dead {
		return syscall.EIO
	}
	return nil
}

func (c *powerCut) arm() {
	c.mu.Lock()
	c.armed = true
	c.mu.Unlock()
}

func (c *powerCut) crashed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.dead
}

// logsOnDisk lists the logs of the store on mem, without the broker.
func logsOnDisk(t *testing.T, mem *fs.Mem) []string {
	t.Helper()
	ls, err := logstore.Open(mem, "data", logstore.Options{Logger: quiet, CleanInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer ls.Close()
	return ls.Logs()
}

func TestCrashDuringAdmin(t *testing.T) {
	metaSync := func(op faultfs.Op, path string) bool {
		return op == faultfs.OpSync && strings.Contains(path, "/__meta/")
	}
	tests := []struct {
		name string
		at   func(op faultfs.Op, path string) bool
		run  func(b *Broker) error
		// left: the logs on disk after the crash, before Open cleans up;
		// want: the logs after Open.
		left, want []string
		topics     map[string]int32
	}{
		{
			name: "create topic, before its record",
			at:   metaSync,
			run: func(b *Broker) error {
				_, err := b.CreateTopic(ctx, TopicSpec{Name: "new", Partitions: 2}, false)
				return err
			},
			left:   []string{"__meta", "base-0", "new-0", "new-1"},
			want:   []string{"__meta", "base-0"},
			topics: map[string]int32{"base": 1},
		},
		{
			name:   "create partitions, before the record",
			at:     metaSync,
			run:    func(b *Broker) error { return b.CreatePartitions(ctx, "base", 3, false) },
			left:   []string{"__meta", "base-0", "base-1", "base-2"},
			want:   []string{"__meta", "base-0"},
			topics: map[string]int32{"base": 1},
		},
		{
			name: "delete topic, after its record",
			at: func(op faultfs.Op, path string) bool {
				return op == faultfs.OpRename && strings.Contains(path, "/base-0")
			},
			run:    func(b *Broker) error { return b.DeleteTopic(ctx, "base") },
			left:   []string{"__meta", "base-0"},
			want:   []string{"__meta"},
			topics: map[string]int32{},
		},
		{
			name: "delete topic, between its logs",
			at: func(op faultfs.Op, path string) bool {
				return op == faultfs.OpRename && strings.Contains(path, "/two-1")
			},
			run:    func(b *Broker) error { return b.DeleteTopic(ctx, "two") },
			left:   []string{"__meta", "base-0", "two-1"},
			want:   []string{"__meta", "base-0"},
			topics: map[string]int32{"base": 1},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			mem := fs.NewMem()
			cut := &powerCut{mem: mem, at: tc.at}
			e, err := tryOpenEnv(faultfs.New(mem, cut), nil)
			if err != nil {
				t.Fatal(err)
			}
			e.create(t, "base", 1, nil)
			if tc.name == "delete topic, between its logs" {
				e.create(t, "two", 2, nil)
			}
			mustProduce(t, e.partition(t, "base", 0), batch(2, 0, 1))
			cut.arm()
			if err := tc.run(e.b); err == nil && !strings.HasPrefix(tc.name, "delete") {
				t.Fatal("the change succeeded through a power cut")
			}
			if !cut.crashed() {
				t.Fatal("the power cut did not happen")
			}
			e.close() // the dead process: everything fails

			if got := logsOnDisk(t, mem); !slices.Equal(got, tc.left) {
				t.Fatalf("logs left by the crash: %v, want %v", got, tc.left)
			}
			e2 := openEnv(t, mem, nil)
			if got := e2.ls.Logs(); !slices.Equal(got, tc.want) {
				t.Fatalf("logs after Open: %v, want %v", got, tc.want)
			}
			got := map[string]int32{}
			for _, tp := range e2.b.Topics() {
				got[tp.Name()] = tp.NumPartitions()
			}
			if len(got) != len(tc.topics) {
				t.Fatalf("topics %v, want %v", got, tc.topics)
			}
			for n, want := range tc.topics {
				if got[n] != want {
					t.Fatalf("topics %v, want %v", got, tc.topics)
				}
			}
			if _, ok := e2.b.Topic("base"); ok {
				if hw := e2.partition(t, "base", 0).HighWatermark(); hw != 2 {
					t.Fatalf("base lost data: hw %d", hw)
				}
			}
			// An interrupted create can be made again; a delete is done.
			if err := tc.run(e2.b); strings.HasPrefix(tc.name, "create") && err != nil {
				t.Fatalf("redo: %v", err)
			}
		})
	}
}
