package fs

import (
	"errors"
	iofs "io/fs"
	"maps"
	"os"
	"path"
	"slices"
	"strings"
	"sync"
	"syscall"
)

// ErrCrashed is returned by every operation on a handle (file or lock)
// opened before [Mem.Crash]: the process that held it is gone.
var ErrCrashed = errors.New("fs: handle invalidated by a simulated crash")

// Mem is an in-memory FS that remembers, beside what every reader sees, what
// would survive a power loss, and enforces the durability contract described
// in the package doc: file data is durable once synced, directory entries
// once their directory is synced. [Mem.Crash] and [Mem.CrashTorn] throw
// everything else away. Mem is safe for concurrent use.
//
// Names are slash-separated; a leading slash is ignored, so "/a/b" and "a/b"
// name the same file, and "", "." and "/" name the root, which always exists.
// Unlike the host, Mem refuses to open a directory as a file (EISDIR) and to
// SyncDir a file (ENOTDIR).
type Mem struct {
	mu    sync.Mutex
	root  *node
	gen   uint64              // bumped by each crash; handles from an older gen are dead
	locks map[string]struct{} // names held by Lock
}

// node is a file or a directory. A node is shared, not copied, by every
// entry that names it, so an entry restored by a crash finds the same file
// that open handles wrote to.
type node struct {
	dir bool

	// Directories: the entries every reader sees, and those as of the last
	// SyncDir.
	children, durableChildren map[string]*node

	// Files: the contents every reader sees, and those as of the last Sync.
	// Sync shares data's bytes with durable instead of copying them (durable
	// has its capacity cut to its length, so appends to data never show
	// through); shared says a write below len(durable) must copy first.
	data, durable []byte
	shared        bool
}

func newDir() *node {
	return &node{dir: true, children: map[string]*node{}, durableChildren: map[string]*node{}}
}

// NewMem returns an empty Mem holding only its root directory.
func NewMem() *Mem {
	return &Mem{root: newDir(), locks: map[string]struct{}{}}
}

// split cleans name into its components; the root has none.
func split(name string) []string {
	p := strings.TrimPrefix(path.Clean("/"+name), "/")
	if p == "" {
		return nil
	}
	return strings.Split(p, "/")
}

// walk returns the node at the given components.
func (m *Mem) walk(parts []string) (*node, error) {
	n := m.root
	for _, part := range parts {
		if !n.dir {
			return nil, syscall.ENOTDIR
		}
		c, ok := n.children[part]
		if !ok {
			return nil, iofs.ErrNotExist
		}
		n = c
	}
	return n, nil
}

// lookup returns the node called name.
func (m *Mem) lookup(op, name string) (*node, error) {
	parts := split(name)
	n, err := m.walk(parts)
	if err != nil {
		return nil, &os.PathError{Op: op, Path: name, Err: err}
	}
	return n, nil
}

// parent returns the directory that holds, or would hold, name, and name's
// last component. The root has no parent.
func (m *Mem) parent(op, name string) (*node, string, error) {
	parts := split(name)
	if len(parts) == 0 {
		return nil, "", &os.PathError{Op: op, Path: name, Err: iofs.ErrInvalid}
	}
	dir, err := m.walk(parts[:len(parts)-1])
	if err == nil && !dir.dir {
		err = syscall.ENOTDIR
	}
	if err != nil {
		return nil, "", &os.PathError{Op: op, Path: name, Err: err}
	}
	return dir, parts[len(parts)-1], nil
}

func (m *Mem) Create(name string) (File, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, err := m.create("open", name)
	if err != nil {
		return nil, err
	}
	n.setSize(0)
	return m.newHandle(name, n, true), nil
}

// create returns the file called name, making it (an unsynced entry) if
// missing.
func (m *Mem) create(op, name string) (*node, error) {
	dir, base, err := m.parent(op, name)
	if err != nil {
		return nil, err
	}
	n, ok := dir.children[base]
	if !ok {
		n = &node{}
		dir.children[base] = n
	}
	if n.dir {
		return nil, &os.PathError{Op: op, Path: name, Err: syscall.EISDIR}
	}
	return n, nil
}

func (m *Mem) OpenFile(name string) (File, error) { return m.open(name, true) }

func (m *Mem) Open(name string) (File, error) { return m.open(name, false) }

func (m *Mem) open(name string, writable bool) (File, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, err := m.lookup("open", name)
	if err != nil {
		return nil, err
	}
	if n.dir {
		return nil, &os.PathError{Op: "open", Path: name, Err: syscall.EISDIR}
	}
	return m.newHandle(name, n, writable), nil
}

func (m *Mem) Remove(name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	dir, base, err := m.parent("remove", name)
	if err != nil {
		return err
	}
	n, ok := dir.children[base]
	switch {
	case !ok:
		return &os.PathError{Op: "remove", Path: name, Err: iofs.ErrNotExist}
	case n.dir && len(n.children) > 0:
		return &os.PathError{Op: "remove", Path: name, Err: syscall.ENOTEMPTY}
	}
	delete(dir.children, base)
	return nil
}

// RemoveAll detaches name from its directory; like Remove it is durable
// after SyncDir of that directory, and a crash before then brings back the
// whole durable subtree. A missing name is not an error, as with os.
func (m *Mem) RemoveAll(name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	dir, base, err := m.parent("removeall", name)
	if errors.Is(err, iofs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	delete(dir.children, base)
	return nil
}

// Rename follows os.Rename on Unix, including its refusal to replace a
// directory (EEXIST). The entry appears in newname's directory and leaves
// oldname's; each change is durable after SyncDir of its own directory, so a
// crash between the two syncs may leave the file under both names.
func (m *Mem) Rename(oldname, newname string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	fail := func(err error) error {
		return &os.LinkError{Op: "rename", Old: oldname, New: newname, Err: err}
	}
	odir, obase, err := m.parent("rename", oldname)
	if err != nil {
		return fail(errors.Unwrap(err))
	}
	ndir, nbase, err := m.parent("rename", newname)
	if err != nil {
		return fail(errors.Unwrap(err))
	}
	n, ok := odir.children[obase]
	if !ok {
		return fail(iofs.ErrNotExist)
	}
	if old, ok := ndir.children[nbase]; ok {
		if old == n {
			return nil
		}
		if old.dir {
			return fail(syscall.EEXIST)
		}
		if n.dir {
			return fail(syscall.ENOTDIR)
		}
	}
	if n.dir && n.contains(ndir) {
		return fail(syscall.EINVAL) // a directory cannot move below itself
	}
	delete(odir.children, obase)
	ndir.children[nbase] = n
	return nil
}

// contains reports whether d is n or lies below n.
func (n *node) contains(d *node) bool {
	if n == d {
		return true
	}
	for _, c := range n.children {
		if c.dir && c.contains(d) {
			return true
		}
	}
	return false
}

func (m *Mem) MkdirAll(dir string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, err := m.mkdirAll(dir)
	return err
}

func (m *Mem) mkdirAll(dir string) (*node, error) {
	parts := split(dir)
	n := m.root
	for _, part := range parts {
		c, ok := n.children[part]
		if !ok {
			c = newDir()
			n.children[part] = c
		}
		if !c.dir {
			return nil, &os.PathError{Op: "mkdir", Path: dir, Err: syscall.ENOTDIR}
		}
		n = c
	}
	return n, nil
}

func (m *Mem) ReadDir(dir string) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, err := m.lookup("open", dir)
	if err != nil {
		return nil, err
	}
	if !n.dir {
		return nil, &os.PathError{Op: "readdirent", Path: dir, Err: syscall.ENOTDIR}
	}
	return slices.Sorted(maps.Keys(n.children)), nil
}

// Stat returns the size of a file; a directory has size 0.
func (m *Mem) Stat(name string) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, err := m.lookup("stat", name)
	if err != nil {
		return 0, err
	}
	return int64(len(n.data)), nil
}

// SyncDir makes dir's entries durable as they stand: the names, not the
// contents of the files they name, nor the entries of subdirectories.
func (m *Mem) SyncDir(dir string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, err := m.lookup("sync", dir)
	if err != nil {
		return err
	}
	if !n.dir {
		return &os.PathError{Op: "sync", Path: dir, Err: syscall.ENOTDIR}
	}
	n.durableChildren = maps.Clone(n.children)
	return nil
}

// ReadFile returns the current contents of a file, synced or not.
func (m *Mem) ReadFile(name string) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, err := m.lookup("open", name)
	if err != nil {
		return nil, err
	}
	if n.dir {
		return nil, &os.PathError{Op: "read", Path: name, Err: syscall.EISDIR}
	}
	return slices.Clone(n.data), nil
}

// WriteFile replaces name's contents with data and makes the result durable
// at once, together with name's missing parent directories and every entry
// on its path, as a test seeding a disk image wants. Entries beside that
// path keep their durability as it was.
func (m *Mem) WriteFile(name string, data []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	parts := split(name)
	if len(parts) == 0 {
		return &os.PathError{Op: "open", Path: name, Err: syscall.EISDIR}
	}
	if _, err := m.mkdirAll(path.Join(parts[:len(parts)-1]...)); err != nil {
		return err
	}
	n, err := m.create("open", name)
	if err != nil {
		return err
	}
	n.data = slices.Clone(data)
	n.sync()
	d := m.root
	for _, part := range parts {
		d.durableChildren[part] = d.children[part]
		d = d.children[part]
	}
	return nil
}
