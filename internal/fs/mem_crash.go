package fs

import (
	"maps"
	"math/rand/v2"
	"slices"
)

// Crash simulates a power loss followed by a reboot. Every directory gets
// back the entries it had at its last SyncDir, recursively from the root, so
// an entry made in an unsynced directory is lost however often its own
// directory was synced. Every file that remains gets back the contents it
// had at its last Sync (empty if never synced). Every handle and lock taken
// before the crash fails with ErrCrashed from then on; the Mem itself is
// ready for use, as a freshly booted disk.
func (m *Mem) Crash() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.reboot(func(n *node) []byte { return n.durable })
}

// tornSector bounds the garbage CrashTorn writes: a disk sector.
const tornSector = 512

// CrashTorn is Crash for a disk that had started writing when the power
// went. It reverts the namespace exactly as Crash does; then, for each
// remaining file whose current size exceeds its durable size, it keeps the
// durable contents followed by the first k bytes of the unsynced tail
// (current[len(durable):]), with k drawn uniformly from 0 to the tail's
// length inclusive. When k > 0, with probability 1/2 it then overwrites the
// last g kept bytes with random bytes, g drawn uniformly from 1 to
// min(k, 512): a sector that was allocated but never written. Unsynced
// changes below the durable size (overwrites, truncations) are lost, as with
// Crash.
//
// Files are visited in sorted path order, each once, so a given seed of r
// always tears the same disk image the same way.
func (m *Mem) CrashTorn(r *rand.Rand) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.reboot(func(n *node) []byte {
		if len(n.data) <= len(n.durable) {
			return n.durable
		}
		tail := n.data[len(n.durable):]
		k := r.IntN(len(tail) + 1)
		kept := append(slices.Clone(n.durable), tail[:k]...)
		if k > 0 && r.IntN(2) == 0 {
			g := 1 + r.IntN(min(k, tornSector))
			for i := len(kept) - g; i < len(kept); i++ {
				kept[i] = byte(r.Uint32())
			}
		}
		return kept
	})
}

// reboot reverts the namespace to its durable state, sets each surviving
// file's contents (and its durable contents: a disk after reboot holds only
// what is on it) to survive(file), and kills every handle and lock. m.mu must
// be held.
func (m *Mem) reboot(survive func(*node) []byte) {
	m.gen++
	clear(m.locks)
	seen := map[*node]bool{}
	var visit func(n *node)
	visit = func(n *node) {
		if seen[n] {
			return
		}
		seen[n] = true
		if !n.dir {
			n.data = survive(n)
			n.sync()
			return
		}
		n.children = maps.Clone(n.durableChildren)
		for _, name := range slices.Sorted(maps.Keys(n.children)) {
			visit(n.children[name])
		}
	}
	visit(m.root)
}
