package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"unicode/utf8"

	"github.com/loftmq/loft/internal/meta"
)

// Errors returned by the store, often wrapped with details.
var (
	// ErrExists reports adding a user or vhost that already exists.
	ErrExists = errors.New("auth: already exists")
	// ErrNotFound reports a user, vhost or permission entry that does not exist.
	ErrNotFound = errors.New("auth: not found")
	// ErrBadName reports an empty, oversized or non-UTF-8 name.
	ErrBadName = errors.New("auth: bad name")
	// ErrBadHash reports a malformed password hash or an unknown algorithm.
	ErrBadHash = errors.New("auth: bad password hash")
	// ErrBadPattern reports a permission pattern Go cannot compile.
	ErrBadPattern = errors.New("auth: bad permission pattern")
	// ErrBadRecord reports a record in the meta store this package cannot read.
	ErrBadRecord = errors.New("auth: bad record in meta store")

	// ErrInvalidCredentials reports an unknown user, a wrong password or a
	// user without one: the same error for all, so that it does not tell
	// which users exist.
	ErrInvalidCredentials = errors.New("auth: invalid credentials")
	// ErrLoopbackOnly reports a loopback-only user (guest) connecting from
	// elsewhere.
	ErrLoopbackOnly = errors.New("auth: user may only connect via localhost")
	// ErrAccessRefused is what every *RefusedError wraps.
	ErrAccessRefused = errors.New("auth: access refused")
)

// Defaults created on a fresh store, as RabbitMQ does.
const (
	DefaultVhost    = "/"
	DefaultUser     = "guest"
	defaultPassword = "guest"
)

// MaxNameBytes bounds user and vhost names: an AMQP short string.
const MaxNameBytes = 255

// Key kinds in the meta store.
const (
	kindUser       = "user"
	kindVhost      = "vhost"
	kindPermission = "permission"
)

// initKey marks a store whose defaults were created.
var initKey = meta.Key("auth", "initialized")

// Store is the users, vhosts and permissions of one meta store, kept in
// memory for fast checks. It is safe for concurrent use.
type Store struct {
	md *meta.Store

	wmu sync.Mutex // serialises changes; taken before mu

	mu       sync.RWMutex
	users    map[string]*User
	vhosts   map[string]*Vhost
	perms    map[permKey]*compiled
	loopback map[string]bool
}

type permKey struct{ user, vhost string }

// Open loads the users, vhosts and permissions of md. On a store never
// initialised it first creates the defaults in one Apply: the vhost "/",
// the user guest/guest tagged administrator with full permissions on "/".
// Only guest is loopback-only; see SetLoopbackUsers.
func Open(ctx context.Context, md *meta.Store) (*Store, error) {
	s := &Store{
		md:       md,
		users:    map[string]*User{},
		vhosts:   map[string]*Vhost{},
		perms:    map[permKey]*compiled{},
		loopback: map[string]bool{DefaultUser: true},
	}
	if _, ok := md.Get(initKey); !ok {
		if err := s.initialise(ctx); err != nil {
			return nil, err
		}
	}
	if err := s.load(); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Store) initialise(ctx context.Context) error {
	all := Permissions{Configure: ".*", Write: ".*", Read: ".*"}
	ops := []meta.Op{
		put(meta.Key(kindVhost, DefaultVhost), &Vhost{Name: DefaultVhost, Description: "Default virtual host", Tags: []string{}}),
		put(meta.Key(kindUser, DefaultUser), &User{
			Name: DefaultUser, PasswordHash: HashPassword(defaultPassword),
			HashingAlgorithm: SHA256, Tags: []string{"administrator"},
		}),
		put(permissionKey(DefaultUser, DefaultVhost), permRecord{User: DefaultUser, Vhost: DefaultVhost, Permissions: all}),
		meta.Put(initKey, []byte(`{"version":1}`)),
	}
	if err := s.md.Apply(ctx, ops...); err != nil {
		return fmt.Errorf("auth: create defaults: %w", err)
	}
	return nil
}

func (s *Store) load() error {
	for _, kv := range s.md.Scan(meta.Prefix(kindUser)) {
		var u User
		if err := json.Unmarshal(kv.Value, &u); err != nil {
			return fmt.Errorf("%w: %s: %v", ErrBadRecord, kv.Key, err)
		}
		s.users[u.Name] = &u
	}
	for _, kv := range s.md.Scan(meta.Prefix(kindVhost)) {
		var v Vhost
		if err := json.Unmarshal(kv.Value, &v); err != nil {
			return fmt.Errorf("%w: %s: %v", ErrBadRecord, kv.Key, err)
		}
		s.vhosts[v.Name] = &v
	}
	for _, kv := range s.md.Scan(meta.Prefix(kindPermission)) {
		var r permRecord
		if err := json.Unmarshal(kv.Value, &r); err != nil {
			return fmt.Errorf("%w: %s: %v", ErrBadRecord, kv.Key, err)
		}
		// A pattern that no longer compiles denies rather than fails the
		// start: compileLenient leaves it nil.
		s.perms[permKey{r.User, r.Vhost}] = compileLenient(r.Permissions)
	}
	return nil
}

// SetLoopbackUsers replaces the users that may authenticate only from a
// loopback address (RabbitMQ's loopback_users, by default guest alone).
// No names lifts the restriction.
func (s *Store) SetLoopbackUsers(names ...string) {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	s.mu.Lock()
	s.loopback = m
	s.mu.Unlock()
}

// put returns the Op storing v as JSON under key. The values are this
// package's own types, which always marshal.
func put(key string, v any) meta.Op {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("auth: marshal %s: %v", key, err)) // a bug, not input
	}
	return meta.Put(key, b)
}

func permissionKey(user, vhost string) string { return meta.Key(kindPermission, vhost, user) }

func checkName(what, name string) error {
	if name == "" || len(name) > MaxNameBytes || !utf8.ValidString(name) {
		return fmt.Errorf("%w: %s %q: want 1 to %d bytes of UTF-8", ErrBadName, what, name, MaxNameBytes)
	}
	return nil
}

// cleanTags returns tags without empty strings or repeats, never nil, so
// that it marshals as [] like RabbitMQ's definitions.
func cleanTags(tags []string) []string {
	out := []string{}
	for _, t := range tags {
		if t != "" && !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	return out
}
