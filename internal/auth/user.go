package auth

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/loftmq/loft/internal/meta"
)

// User is a user as stored and as RabbitMQ's definitions name its fields.
// An empty PasswordHash means no password: password login is refused.
type User struct {
	Name             string   `json:"name"`
	PasswordHash     string   `json:"password_hash"`
	HashingAlgorithm string   `json:"hashing_algorithm"`
	Tags             []string `json:"tags"`
}

// HasTag reports whether u carries tag.
func (u *User) HasTag(tag string) bool { return slices.Contains(u.Tags, tag) }

func (u *User) clone() *User {
	c := *u
	c.Tags = slices.Clone(u.Tags)
	return &c
}

// AddUser adds a user with password hashed by SHA256, or with no password
// if password is empty. ErrExists if the name is taken.
func (s *Store) AddUser(ctx context.Context, name, password string, tags []string) error {
	if err := checkName("user", name); err != nil {
		return err
	}
	u := &User{Name: name, HashingAlgorithm: SHA256, Tags: cleanTags(tags)}
	if password != "" {
		u.PasswordHash = HashPassword(password)
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if _, ok := s.user(name); ok {
		return fmt.Errorf("%w: user %q", ErrExists, name)
	}
	return s.putUser(ctx, u)
}

// SetPassword replaces the password of a user, hashed by SHA256; an empty
// password removes it (RabbitMQ's clear_password).
func (s *Store) SetPassword(ctx context.Context, name, password string) error {
	hash := ""
	if password != "" {
		hash = HashPassword(password)
	}
	return s.SetPasswordHash(ctx, name, hash, SHA256)
}

// SetPasswordHash sets a user's hash as found in RabbitMQ definitions:
// base64(4-byte salt ++ digest), with algorithm SHA256, SHA512 or MD5
// ("" meaning MD5, as for definitions older than the field). An empty hash
// removes the password.
func (s *Store) SetPasswordHash(ctx context.Context, name, hash, algorithm string) error {
	if algorithm == "" {
		algorithm = MD5
	}
	if hash != "" {
		if err := checkHash(hash, algorithm); err != nil {
			return err
		}
	} else if _, err := hasher(algorithm); err != nil {
		return err
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	u, ok := s.user(name)
	if !ok {
		return fmt.Errorf("%w: user %q", ErrNotFound, name)
	}
	u.PasswordHash, u.HashingAlgorithm = hash, algorithm
	return s.putUser(ctx, u)
}

// SetTags replaces the tags of a user.
func (s *Store) SetTags(ctx context.Context, name string, tags []string) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	u, ok := s.user(name)
	if !ok {
		return fmt.Errorf("%w: user %q", ErrNotFound, name)
	}
	u.Tags = cleanTags(tags)
	return s.putUser(ctx, u)
}

// DeleteUser deletes a user and, in the same Apply, its permissions. A user
// with permissions on meta.MaxOps vhosts or more cannot be deleted in one
// Apply: that fails with meta.ErrTooManyOps and changes nothing.
func (s *Store) DeleteUser(ctx context.Context, name string) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if _, ok := s.user(name); !ok {
		return fmt.Errorf("%w: user %q", ErrNotFound, name)
	}
	ops := []meta.Op{meta.Delete(meta.Key(kindUser, name))}
	var gone []permKey
	s.mu.RLock()
	for k := range s.perms {
		if k.user == name {
			gone = append(gone, k)
			ops = append(ops, meta.Delete(permissionKey(k.user, k.vhost)))
		}
	}
	s.mu.RUnlock()
	if err := s.md.Apply(ctx, ops...); err != nil {
		return fmt.Errorf("auth: delete user %q: %w", name, err)
	}
	s.mu.Lock()
	delete(s.users, name)
	for _, k := range gone {
		delete(s.perms, k)
	}
	s.mu.Unlock()
	return nil
}

// User returns a copy of the named user.
func (s *Store) User(name string) (*User, bool) { return s.user(name) }

// Users returns copies of all users, sorted by name.
func (s *Store) Users() []*User {
	s.mu.RLock()
	out := make([]*User, 0, len(s.users))
	for _, u := range s.users {
		out = append(out, u.clone())
	}
	s.mu.RUnlock()
	slices.SortFunc(out, func(a, b *User) int { return strings.Compare(a.Name, b.Name) })
	return out
}

func (s *Store) user(name string) (*User, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	u, ok := s.users[name]
	if !ok {
		return nil, false
	}
	return u.clone(), true
}

// putUser stores u and, once stored, makes it current. The caller holds wmu.
func (s *Store) putUser(ctx context.Context, u *User) error {
	if err := s.md.Apply(ctx, put(meta.Key(kindUser, u.Name), u)); err != nil {
		return fmt.Errorf("auth: store user %q: %w", u.Name, err)
	}
	s.mu.Lock()
	s.users[u.Name] = u
	s.mu.Unlock()
	return nil
}
