package auth

import (
	"cmp"
	"context"
	"fmt"
	"regexp"
	"slices"
)

// Permissions are the three patterns a user has on one vhost. A resource
// name must match the pattern of the operation; the empty pattern matches
// nothing.
type Permissions struct {
	Configure string `json:"configure"`
	Write     string `json:"write"`
	Read      string `json:"read"`
}

// Permission is one entry of ListPermissions, as RabbitMQ's definitions
// name its fields.
type Permission struct {
	User  string `json:"user"`
	Vhost string `json:"vhost"`
	Permissions
}

// permRecord is how a Permission is stored.
type permRecord = Permission

// Perm is the kind of access an operation needs.
type Perm int

// The kinds of access, as RabbitMQ's access control names them.
const (
	Configure Perm = iota // create, delete or alter a resource
	Write                 // inject messages into it (publish, bind from)
	Read                  // take messages out of it (consume, get, bind to)
)

func (p Perm) String() string {
	switch p {
	case Configure:
		return "configure"
	case Write:
		return "write"
	case Read:
		return "read"
	}
	return fmt.Sprintf("Perm(%d)", int(p))
}

// Resource is what a permission check is about: a kind, as it appears in
// RabbitMQ's messages ("queue", "exchange", "topic"), and a name.
type Resource struct {
	Kind string
	Name string
}

// Queue returns the queue resource name.
func Queue(name string) Resource { return Resource{Kind: "queue", Name: name} }

// Exchange returns the exchange resource name. Check the default exchange
// as "amq.default", as RabbitMQ does.
func Exchange(name string) Resource { return Resource{Kind: "exchange", Name: name} }

// RefusedError is a refused permission check. Its message is RabbitMQ's,
// ready to follow "ACCESS_REFUSED - " in an AMQP close. It wraps
// ErrAccessRefused.
type RefusedError struct {
	User, Vhost string
	Resource    *Resource // nil when the vhost itself is refused
	Perm        Perm
}

func (e *RefusedError) Error() string {
	if e.Resource == nil {
		return fmt.Sprintf("access to vhost '%s' refused for user '%s'", e.Vhost, e.User)
	}
	return fmt.Sprintf("access to %s '%s' in vhost '%s' refused for user '%s'",
		e.Resource.Kind, e.Resource.Name, e.Vhost, e.User)
}

func (e *RefusedError) Unwrap() error { return ErrAccessRefused }

// compiled is a permission entry with its patterns compiled; a nil regexp
// matches nothing.
type compiled struct {
	p  Permissions
	re [3]*regexp.Regexp // by Perm
}

func compilePattern(pat string) (*regexp.Regexp, error) {
	if pat == "" {
		return nil, nil
	}
	re, err := regexp.Compile(pat)
	if err != nil {
		return nil, fmt.Errorf("%w: %q: %v", ErrBadPattern, pat, err)
	}
	return re, nil
}

func compile(p Permissions) (*compiled, error) {
	c := &compiled{p: p}
	for i, pat := range []string{p.Configure, p.Write, p.Read} {
		re, err := compilePattern(pat)
		if err != nil {
			return nil, err
		}
		c.re[i] = re
	}
	return c, nil
}

// compileLenient is compile for stored entries: a pattern that does not
// compile is left nil, and so denies.
func compileLenient(p Permissions) *compiled {
	c := &compiled{p: p}
	for i, pat := range []string{p.Configure, p.Write, p.Read} {
		c.re[i], _ = compilePattern(pat)
	}
	return c
}

// SetPermissions sets the permissions of user on vhost, both of which must
// exist.
func (s *Store) SetPermissions(ctx context.Context, user, vhost string, p Permissions) error {
	c, err := compile(p)
	if err != nil {
		return err
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if _, ok := s.user(user); !ok {
		return fmt.Errorf("%w: user %q", ErrNotFound, user)
	}
	if _, ok := s.Vhost(vhost); !ok {
		return fmt.Errorf("%w: vhost %q", ErrNotFound, vhost)
	}
	rec := permRecord{User: user, Vhost: vhost, Permissions: p}
	if err := s.md.Apply(ctx, put(permissionKey(user, vhost), rec)); err != nil {
		return fmt.Errorf("auth: store permissions of %q on %q: %w", user, vhost, err)
	}
	s.mu.Lock()
	s.perms[permKey{user, vhost}] = c
	s.mu.Unlock()
	return nil
}

// ClearPermissions removes the permissions of user on vhost, and so the
// user's access to the vhost.
func (s *Store) ClearPermissions(ctx context.Context, user, vhost string) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if _, ok := s.Permissions(user, vhost); !ok {
		return fmt.Errorf("%w: permissions of user %q on vhost %q", ErrNotFound, user, vhost)
	}
	if err := s.md.Delete(ctx, permissionKey(user, vhost)); err != nil {
		return fmt.Errorf("auth: clear permissions of %q on %q: %w", user, vhost, err)
	}
	s.mu.Lock()
	delete(s.perms, permKey{user, vhost})
	s.mu.Unlock()
	return nil
}

// Permissions returns the permissions of user on vhost.
func (s *Store) Permissions(user, vhost string) (Permissions, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	c, ok := s.perms[permKey{user, vhost}]
	if !ok {
		return Permissions{}, false
	}
	return c.p, true
}

// ListPermissions returns every permission entry, sorted by vhost then user.
func (s *Store) ListPermissions() []Permission {
	s.mu.RLock()
	out := make([]Permission, 0, len(s.perms))
	for k, c := range s.perms {
		out = append(out, Permission{User: k.user, Vhost: k.vhost, Permissions: c.p})
	}
	s.mu.RUnlock()
	slices.SortFunc(out, func(a, b Permission) int {
		return cmp.Or(cmp.Compare(a.Vhost, b.Vhost), cmp.Compare(a.User, b.User))
	})
	return out
}

// CheckVhost returns nil if user may use vhost: the user and the vhost
// exist and the user has a permission entry on it, whatever its patterns.
// Otherwise a *RefusedError.
func (s *Store) CheckVhost(user, vhost string) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if _, ok := s.entry(user, vhost); !ok {
		return &RefusedError{User: user, Vhost: vhost}
	}
	return nil
}

// Check returns nil if user may perform an operation needing perm on res
// in vhost: res.Name matches the user's pattern for perm there. Otherwise a
// *RefusedError, wrapping ErrAccessRefused.
func (s *Store) Check(user, vhost string, res Resource, perm Perm) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	c, ok := s.entry(user, vhost)
	if !ok {
		return &RefusedError{User: user, Vhost: vhost}
	}
	if perm < 0 || int(perm) >= len(c.re) || c.re[perm] == nil || !c.re[perm].MatchString(res.Name) {
		return &RefusedError{User: user, Vhost: vhost, Resource: &res, Perm: perm}
	}
	return nil
}

// entry returns the permission entry of user on vhost, if both exist. The
// caller holds mu.
func (s *Store) entry(user, vhost string) (*compiled, bool) {
	if _, ok := s.users[user]; !ok {
		return nil, false
	}
	if _, ok := s.vhosts[vhost]; !ok {
		return nil, false
	}
	c, ok := s.perms[permKey{user, vhost}]
	return c, ok
}
