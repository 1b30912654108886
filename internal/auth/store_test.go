package auth

import (
	"context"
	"crypto/md5"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"sync"
	"testing"

	"github.com/loftmq/loft/internal/fs"
	"github.com/loftmq/loft/internal/logstore"
	"github.com/loftmq/loft/internal/meta"
)

type env struct {
	ls *logstore.Store
	md *meta.Store
	s  *Store
}

func (e *env) close() {
	e.md.Close()
	e.ls.Close()
}

func open(t *testing.T, fsys fs.FS) *env {
	t.Helper()
	ls, err := logstore.Open(fsys, "data", logstore.Options{
		Fsync:         logstore.FsyncPolicy{Mode: logstore.FsyncAlways},
		Logger:        slog.New(slog.NewTextHandler(io.Discard, nil)),
		CleanInterval: -1,
	})
	if err != nil {
		t.Fatalf("logstore.Open: %v", err)
	}
	md, err := meta.Open(ls)
	if err != nil {
		ls.Close()
		t.Fatalf("meta.Open: %v", err)
	}
	s, err := Open(t.Context(), md)
	if err != nil {
		md.Close()
		ls.Close()
		t.Fatalf("auth.Open: %v", err)
	}
	return &env{ls, md, s}
}

var (
	local4  = &net.TCPAddr{IP: net.ParseIP("127.0.0.1"), Port: 5000}
	local6  = &net.TCPAddr{IP: net.ParseIP("::1"), Port: 5000}
	remote4 = &net.TCPAddr{IP: net.ParseIP("10.0.0.1"), Port: 5000}
)

func TestHashFormat(t *testing.T) {
	salt := []byte{0x90, 0x8d, 0xc6, 0x0a}
	sum := sha256.Sum256(append(append([]byte(nil), salt...), "password"...))
	want := base64.StdEncoding.EncodeToString(append(append([]byte(nil), salt...), sum[:]...))
	if got := hashWithSalt(sha256.New, salt, "password"); got != want {
		t.Fatalf("hashWithSalt = %s, want %s", got, want)
	}
	if !verify(want, SHA256, "password") {
		t.Fatal("verify rejects the right password")
	}
	h := HashPassword("password")
	raw, err := base64.StdEncoding.DecodeString(h)
	if err != nil || len(raw) != 4+32 {
		t.Fatalf("HashPassword = %q: %d bytes, %v; want 36", h, len(raw), err)
	}
	if h == HashPassword("password") {
		t.Fatal("two hashes of one password share a salt")
	}
}

func TestVerify(t *testing.T) {
	salt := []byte("salt")
	sha512Sum := sha512.Sum512([]byte("saltsecret"))
	md5Sum := md5.Sum([]byte("saltsecret"))
	enc := func(sum []byte) string { return base64.StdEncoding.EncodeToString(append([]byte("salt"), sum...)) }
	good256 := hashWithSalt(sha256.New, salt, "secret")
	tests := []struct {
		name, hash, alg, pw string
		ok                  bool
	}{
		{"sha256", good256, SHA256, "secret", true},
		{"sha256 wrong", good256, SHA256, "Secret", false},
		{"sha256 empty password", good256, SHA256, "", false},
		{"sha512", enc(sha512Sum[:]), SHA512, "secret", true},
		{"sha512 wrong", enc(sha512Sum[:]), SHA512, "nope", false},
		{"md5", enc(md5Sum[:]), MD5, "secret", true},
		{"md5 as empty algorithm", enc(md5Sum[:]), "", "secret", true},
		{"wrong algorithm", good256, SHA512, "secret", false},
		{"unknown algorithm", good256, "rot13", "secret", false},
		{"empty hash", "", SHA256, "", false},
		{"not base64", "!!!!", SHA256, "secret", false},
		{"truncated", good256[:20], SHA256, "secret", false},
		{"salt only", base64.StdEncoding.EncodeToString(salt), SHA256, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := verify(tt.hash, tt.alg, tt.pw); got != tt.ok {
				t.Fatalf("verify = %v, want %v", got, tt.ok)
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	e := open(t, fs.NewMem())
	defer e.close()
	u, ok := e.s.User(DefaultUser)
	if !ok || !u.HasTag("administrator") || u.HashingAlgorithm != SHA256 {
		t.Fatalf("guest = %+v, %v", u, ok)
	}
	if vs := e.s.Vhosts(); len(vs) != 1 || vs[0].Name != "/" {
		t.Fatalf("vhosts = %+v", vs)
	}
	p, ok := e.s.Permissions("guest", "/")
	if want := (Permissions{".*", ".*", ".*"}); !ok || p != want {
		t.Fatalf("guest permissions = %+v, %v", p, ok)
	}
	// Records carry RabbitMQ's definition field names.
	fields := map[string][]string{
		meta.Key("user", "guest"):            {"name", "password_hash", "hashing_algorithm", "tags"},
		meta.Key("vhost", "/"):               {"name", "description", "tags"},
		meta.Key("permission", "/", "guest"): {"user", "vhost", "configure", "write", "read"},
	}
	for key, want := range fields {
		v, ok := e.md.Get(key)
		var m map[string]any
		if err := json.Unmarshal(v, &m); !ok || err != nil {
			t.Fatalf("%s: present %v, %v", key, ok, err)
		}
		for _, f := range want {
			if _, ok := m[f]; !ok {
				t.Errorf("%s lacks %q: %s", key, f, v)
			}
		}
	}
}

func TestAuthenticate(t *testing.T) {
	e := open(t, fs.NewMem())
	defer e.close()
	ctx := t.Context()
	if err := e.s.AddUser(ctx, "alice", "s3cret", []string{"management"}); err != nil {
		t.Fatal(err)
	}
	if err := e.s.AddUser(ctx, "nopw", "", nil); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		user, pw string
		addr     net.Addr
		want     error
	}{
		{"guest", "guest", local4, nil},
		{"guest", "guest", local6, nil},
		{"guest", "guest", &net.TCPAddr{IP: net.ParseIP("::ffff:127.0.0.1")}, nil},
		{"guest", "guest", &net.UnixAddr{Name: "/run/loft.sock", Net: "unix"}, nil},
		{"guest", "guest", remote4, ErrLoopbackOnly},
		{"guest", "guest", nil, ErrLoopbackOnly},
		{"guest", "wrong", local4, ErrInvalidCredentials},
		{"guest", "wrong", remote4, ErrInvalidCredentials},
		{"alice", "s3cret", remote4, nil},
		{"alice", "S3cret", remote4, ErrInvalidCredentials},
		{"nobody", "s3cret", local4, ErrInvalidCredentials},
		{"nopw", "", local4, ErrInvalidCredentials},
	}
	for _, tt := range tests {
		u, err := e.s.Authenticate(tt.user, tt.pw, tt.addr)
		if !errors.Is(err, tt.want) || (err == nil) != (tt.want == nil) {
			t.Errorf("Authenticate(%q, %q, %v) = %v, want %v", tt.user, tt.pw, tt.addr, err, tt.want)
			continue
		}
		if err == nil && u.Name != tt.user {
			t.Errorf("Authenticate(%q) returned user %q", tt.user, u.Name)
		}
	}

	e.s.SetLoopbackUsers()
	if _, err := e.s.Authenticate("guest", "guest", remote4); err != nil {
		t.Errorf("guest remote with no loopback users: %v", err)
	}
	e.s.SetLoopbackUsers("alice")
	if _, err := e.s.Authenticate("alice", "s3cret", remote4); !errors.Is(err, ErrLoopbackOnly) {
		t.Errorf("alice remote as a loopback user: %v", err)
	}
}

func TestPasswordChanges(t *testing.T) {
	e := open(t, fs.NewMem())
	defer e.close()
	ctx := t.Context()
	if err := e.s.SetPassword(ctx, "guest", "new"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.Authenticate("guest", "guest", local4); !errors.Is(err, ErrInvalidCredentials) {
		t.Fatalf("old password: %v", err)
	}
	if _, err := e.s.Authenticate("guest", "new", local4); err != nil {
		t.Fatalf("new password: %v", err)
	}
	sum := sha512.Sum512([]byte("abcdimported"))
	h := base64.StdEncoding.EncodeToString(append([]byte("abcd"), sum[:]...))
	if err := e.s.SetPasswordHash(ctx, "guest", h, SHA512); err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.Authenticate("guest", "imported", local4); err != nil {
		t.Fatalf("imported sha512 hash: %v", err)
	}
	for _, bad := range []struct{ hash, alg string }{
		{h, SHA256}, {"not base64!", SHA512}, {h, "bcrypt"}, {"", "bcrypt"},
	} {
		if err := e.s.SetPasswordHash(ctx, "guest", bad.hash, bad.alg); !errors.Is(err, ErrBadHash) {
			t.Errorf("SetPasswordHash(%q, %q) = %v, want ErrBadHash", bad.hash, bad.alg, err)
		}
	}
	if err := e.s.SetPassword(ctx, "guest", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.Authenticate("guest", "", local4); !errors.Is(err, ErrInvalidCredentials) {
		t.Fatalf("cleared password: %v", err)
	}
	if err := e.s.SetPassword(ctx, "nobody", "x"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("SetPassword of a missing user: %v", err)
	}
}

func TestUsersAndVhosts(t *testing.T) {
	e := open(t, fs.NewMem())
	defer e.close()
	ctx := t.Context()
	if err := e.s.AddUser(ctx, "guest", "x", nil); !errors.Is(err, ErrExists) {
		t.Fatalf("AddUser guest again: %v", err)
	}
	for _, name := range []string{"", string(make([]byte, 256)), "\xff"} {
		if err := e.s.AddUser(ctx, name, "x", nil); !errors.Is(err, ErrBadName) {
			t.Errorf("AddUser(%q) = %v, want ErrBadName", name, err)
		}
		if err := e.s.AddVhost(ctx, name, "", nil); !errors.Is(err, ErrBadName) {
			t.Errorf("AddVhost(%q) = %v, want ErrBadName", name, err)
		}
	}
	if err := e.s.AddUser(ctx, "bob", "pw", []string{"monitoring", "", "monitoring", "custom"}); err != nil {
		t.Fatal(err)
	}
	if u, _ := e.s.User("bob"); len(u.Tags) != 2 || !u.HasTag("custom") {
		t.Fatalf("bob tags = %v", u.Tags)
	}
	if err := e.s.SetTags(ctx, "bob", []string{"policymaker"}); err != nil {
		t.Fatal(err)
	}
	if u, _ := e.s.User("bob"); !u.HasTag("policymaker") || u.HasTag("custom") {
		t.Fatalf("bob tags after SetTags = %v", u.Tags)
	}
	if us := e.s.Users(); len(us) != 2 || us[0].Name != "bob" || us[1].Name != "guest" {
		t.Fatalf("Users = %+v", us)
	}
	if err := e.s.AddVhost(ctx, "a/b%c", "slashes", []string{"prod"}); err != nil {
		t.Fatal(err)
	}
	if err := e.s.AddVhost(ctx, "/", "", nil); !errors.Is(err, ErrExists) {
		t.Fatalf("AddVhost / again: %v", err)
	}
	if err := e.s.SetPermissions(ctx, "bob", "nope", Permissions{}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("SetPermissions on a missing vhost: %v", err)
	}
	if err := e.s.SetPermissions(ctx, "nope", "/", Permissions{}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("SetPermissions for a missing user: %v", err)
	}
	if err := e.s.SetPermissions(ctx, "bob", "/", Permissions{Read: "(("}); !errors.Is(err, ErrBadPattern) {
		t.Fatalf("SetPermissions with a bad pattern: %v", err)
	}
	all := Permissions{".*", ".*", ".*"}
	for _, p := range []struct{ u, v string }{{"bob", "/"}, {"bob", "a/b%c"}, {"guest", "a/b%c"}} {
		if err := e.s.SetPermissions(ctx, p.u, p.v, all); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.s.DeleteVhost(ctx, "a/b%c"); err != nil {
		t.Fatal(err)
	}
	if ps := e.s.ListPermissions(); len(ps) != 2 || ps[0].User != "bob" || ps[1].User != "guest" || ps[0].Vhost != "/" {
		t.Fatalf("after DeleteVhost: %+v", ps)
	}
	if kvs := e.md.Scan(meta.Prefix("permission", "a/b%c")); len(kvs) != 0 {
		t.Fatalf("permission records left: %v", kvs)
	}
	if err := e.s.DeleteVhost(ctx, "a/b%c"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("DeleteVhost twice: %v", err)
	}
	if err := e.s.ClearPermissions(ctx, "bob", "/"); err != nil {
		t.Fatal(err)
	}
	if err := e.s.ClearPermissions(ctx, "bob", "/"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("ClearPermissions twice: %v", err)
	}
	if err := e.s.CheckVhost("bob", "/"); !errors.Is(err, ErrAccessRefused) {
		t.Fatalf("CheckVhost after ClearPermissions: %v", err)
	}
}

// TestDeleteUserIsOneApply checks that the user and all its permissions go
// in one Apply: the meta log grows by exactly one batch.
func TestDeleteUserIsOneApply(t *testing.T) {
	e := open(t, fs.NewMem())
	defer e.close()
	ctx := t.Context()
	if err := e.s.AddUser(ctx, "carol", "pw", nil); err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"v1", "v2", "v3"} {
		if err := e.s.AddVhost(ctx, v, "", nil); err != nil {
			t.Fatal(err)
		}
		if err := e.s.SetPermissions(ctx, "carol", v, Permissions{".*", ".*", ".*"}); err != nil {
			t.Fatal(err)
		}
	}
	log, _ := e.ls.Log(meta.LogName)
	before := log.HighWatermark()
	if err := e.s.DeleteUser(ctx, "carol"); err != nil {
		t.Fatal(err)
	}
	if got := log.HighWatermark() - before; got != 4 {
		t.Fatalf("DeleteUser wrote %d records, want 4", got)
	}
	buf, err := log.Read(nil, before, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(logstore.SplitBatches(buf)); n != 1 {
		t.Fatalf("DeleteUser wrote %d batches, want 1", n)
	}
	if ps := e.s.ListPermissions(); len(ps) != 1 || ps[0].User != "guest" {
		t.Fatalf("permissions left: %+v", ps)
	}
	if _, err := e.s.Authenticate("carol", "pw", local4); !errors.Is(err, ErrInvalidCredentials) {
		t.Fatalf("deleted user authenticates: %v", err)
	}
	if err := e.s.DeleteUser(ctx, "carol"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("DeleteUser twice: %v", err)
	}
}

func TestCheck(t *testing.T) {
	e := open(t, fs.NewMem())
	defer e.close()
	ctx := t.Context()
	if err := e.s.AddUser(ctx, "u", "pw", nil); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		pattern, name string
		ok            bool
	}{
		{".*", "anything", true},
		{".*", "", true},
		{"", "q", false},
		{"", "", false},
		{`^amq\.gen.*`, "amq.gen-JzTY20BRgKO", true},
		{`^amq\.gen.*`, "amqXgen", false},
		{`^amq\.gen.*`, "x.amq.gen", false},
		{"^q$", "q", true},
		{"^q$", "qq", false},
		{"^q$", "aq", false},
		{"q", "my-queue", true}, // unanchored: matches anywhere, as in RabbitMQ
		{"^(a|b)$", "b", true},
		{"^(a|b)$", "ab", false},
	}
	for _, tt := range tests {
		for _, perm := range []Perm{Configure, Write, Read} {
			p := Permissions{Configure: "^$x", Write: "^$x", Read: "^$x"} // matches nothing
			switch perm {
			case Configure:
				p.Configure = tt.pattern
			case Write:
				p.Write = tt.pattern
			case Read:
				p.Read = tt.pattern
			}
			if err := e.s.SetPermissions(ctx, "u", "/", p); err != nil {
				t.Fatal(err)
			}
			err := e.s.Check("u", "/", Queue(tt.name), perm)
			if (err == nil) != tt.ok {
				t.Errorf("%s %q on %q: %v, want allowed %v", perm, tt.pattern, tt.name, err, tt.ok)
			}
			if err != nil && !errors.Is(err, ErrAccessRefused) {
				t.Errorf("error %v does not wrap ErrAccessRefused", err)
			}
			for _, other := range []Perm{Configure, Write, Read} {
				if other != perm && e.s.Check("u", "/", Queue(tt.name), other) == nil {
					t.Errorf("%s %q on %q also allowed %s", perm, tt.pattern, tt.name, other)
				}
			}
		}
	}

	if err := e.s.CheckVhost("u", "/"); err != nil {
		t.Fatalf("CheckVhost with an entry matching nothing: %v", err)
	}
	if err := e.s.SetPermissions(ctx, "u", "/", Permissions{}); err != nil {
		t.Fatal(err)
	}
	err := e.s.Check("u", "/", Queue("q"), Read)
	if want := "access to queue 'q' in vhost '/' refused for user 'u'"; err == nil || err.Error() != want {
		t.Fatalf("Check = %v, want %q", err, want)
	}
	err = e.s.Check("u", "/", Exchange("amq.default"), Write)
	if want := "access to exchange 'amq.default' in vhost '/' refused for user 'u'"; err == nil || err.Error() != want {
		t.Fatalf("Check = %v, want %q", err, want)
	}
	if err := e.s.AddVhost(ctx, "other", "", nil); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ user, vhost string }{{"u", "other"}, {"u", "missing"}, {"ghost", "/"}} {
		err := e.s.CheckVhost(c.user, c.vhost)
		want := "access to vhost '" + c.vhost + "' refused for user '" + c.user + "'"
		if err == nil || err.Error() != want || !errors.Is(err, ErrAccessRefused) {
			t.Errorf("CheckVhost(%q, %q) = %v, want %q", c.user, c.vhost, err, want)
		}
		if err := e.s.Check(c.user, c.vhost, Queue("q"), Read); err == nil || err.Error() != want {
			t.Errorf("Check(%q, %q) = %v, want %q", c.user, c.vhost, err, want)
		}
	}
	if err := e.s.Check("guest", "/", Queue("q"), Perm(7)); !errors.Is(err, ErrAccessRefused) {
		t.Fatalf("Check with an unknown Perm: %v", err)
	}
}

// state is what a Store holds, for comparisons across reopens.
func state(s *Store) string {
	b, _ := json.Marshal(struct {
		U []*User
		V []*Vhost
		P []Permission
	}{s.Users(), s.Vhosts(), s.ListPermissions()})
	return string(b)
}

func populate(t *testing.T, s *Store) {
	t.Helper()
	ctx := t.Context()
	steps := []func() error{
		func() error { return s.AddUser(ctx, "dave", "pw", []string{"administrator"}) },
		func() error { return s.AddUser(ctx, "erin", "pw2", nil) },
		func() error { return s.AddVhost(ctx, "prod", "production", []string{"eu"}) },
		func() error { return s.SetPermissions(ctx, "dave", "prod", Permissions{"^d-", "", "^amq\\.gen.*"}) },
		func() error { return s.SetPermissions(ctx, "erin", "/", Permissions{".*", ".*", ".*"}) },
		func() error { return s.DeleteUser(ctx, "guest") },
		func() error { return s.SetPassword(ctx, "erin", "pw3") },
	}
	for i, f := range steps {
		if err := f(); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
	}
}

func TestReopen(t *testing.T) {
	mem := fs.NewMem()
	e := open(t, mem)
	populate(t, e.s)
	want := state(e.s)
	e.close()

	e = open(t, mem)
	defer e.close()
	if got := state(e.s); got != want {
		t.Fatalf("after reopen:\n%s\nwant\n%s", got, want)
	}
	if _, ok := e.s.User("guest"); ok {
		t.Fatal("guest came back after being deleted")
	}
	if _, err := e.s.Authenticate("erin", "pw3", remote4); err != nil {
		t.Fatalf("erin after reopen: %v", err)
	}
	if err := e.s.Check("dave", "prod", Queue("amq.gen-1"), Read); err != nil {
		t.Fatalf("dave after reopen: %v", err)
	}
}

func TestCrash(t *testing.T) {
	mem := fs.NewMem()
	e := open(t, mem)
	populate(t, e.s)
	want := state(e.s)
	mem.Crash() // the old stores are abandoned, as in a power loss

	e = open(t, mem)
	defer e.close()
	if got := state(e.s); got != want {
		t.Fatalf("after crash:\n%s\nwant\n%s", got, want)
	}
	// A crash right after the defaults leaves them whole.
	mem = fs.NewMem()
	e2 := open(t, mem)
	want = state(e2.s)
	mem.Crash()
	e2 = open(t, mem)
	defer e2.close()
	if got := state(e2.s); got != want {
		t.Fatalf("defaults after crash:\n%s\nwant\n%s", got, want)
	}
}

func TestConcurrent(t *testing.T) {
	e := open(t, fs.NewMem())
	defer e.close()
	ctx := context.Background()
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			name := string(rune('a' + i))
			if err := e.s.AddUser(ctx, name, "pw", nil); err != nil {
				t.Error(err)
				return
			}
			if err := e.s.SetPermissions(ctx, name, "/", Permissions{".*", ".*", ".*"}); err != nil {
				t.Error(err)
			}
			for range 50 {
				e.s.Check(name, "/", Queue("q"), Read)
				e.s.Authenticate("guest", "guest", local4)
			}
		})
	}
	for range 4 {
		wg.Go(func() {
			if err := e.s.AddVhost(ctx, "same", "", nil); err != nil && !errors.Is(err, ErrExists) {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if n := len(e.s.Users()); n != 9 {
		t.Fatalf("%d users, want 9", n)
	}
	if n := len(e.s.Vhosts()); n != 2 {
		t.Fatalf("%d vhosts, want 2", n)
	}
}
