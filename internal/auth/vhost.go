package auth

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/loftmq/loft/internal/meta"
)

// Vhost is a virtual host as stored and as RabbitMQ's definitions name its
// fields.
type Vhost struct {
	Name        string   `json:"name"`
	Description string   `json:"description"`
	Tags        []string `json:"tags"`
}

func (v *Vhost) clone() *Vhost {
	c := *v
	c.Tags = slices.Clone(v.Tags)
	return &c
}

// AddVhost adds a vhost. ErrExists if the name is taken.
func (s *Store) AddVhost(ctx context.Context, name, description string, tags []string) error {
	if err := checkName("vhost", name); err != nil {
		return err
	}
	v := &Vhost{Name: name, Description: description, Tags: cleanTags(tags)}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if _, ok := s.Vhost(name); ok {
		return fmt.Errorf("%w: vhost %q", ErrExists, name)
	}
	if err := s.md.Apply(ctx, put(meta.Key(kindVhost, name), v)); err != nil {
		return fmt.Errorf("auth: store vhost %q: %w", name, err)
	}
	s.mu.Lock()
	s.vhosts[name] = v
	s.mu.Unlock()
	return nil
}

// DeleteVhost deletes a vhost and, in the same Apply, every permission on
// it. The vhost's exchanges, queues and bindings are the broker's to
// delete: this package does not know them. As for DeleteUser, more than
// meta.MaxOps-1 permission entries fail with meta.ErrTooManyOps.
func (s *Store) DeleteVhost(ctx context.Context, name string) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if _, ok := s.Vhost(name); !ok {
		return fmt.Errorf("%w: vhost %q", ErrNotFound, name)
	}
	ops := []meta.Op{meta.Delete(meta.Key(kindVhost, name))}
	var gone []permKey
	s.mu.RLock()
	for k := range s.perms {
		if k.vhost == name {
			gone = append(gone, k)
			ops = append(ops, meta.Delete(permissionKey(k.user, k.vhost)))
		}
	}
	s.mu.RUnlock()
	if err := s.md.Apply(ctx, ops...); err != nil {
		return fmt.Errorf("auth: delete vhost %q: %w", name, err)
	}
	s.mu.Lock()
	delete(s.vhosts, name)
	for _, k := range gone {
		delete(s.perms, k)
	}
	s.mu.Unlock()
	return nil
}

// Vhost returns a copy of the named vhost.
func (s *Store) Vhost(name string) (*Vhost, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	v, ok := s.vhosts[name]
	if !ok {
		return nil, false
	}
	return v.clone(), true
}

// Vhosts returns copies of all vhosts, sorted by name.
func (s *Store) Vhosts() []*Vhost {
	s.mu.RLock()
	out := make([]*Vhost, 0, len(s.vhosts))
	for _, v := range s.vhosts {
		out = append(out, v.clone())
	}
	s.mu.RUnlock()
	slices.SortFunc(out, func(a, b *Vhost) int { return strings.Compare(a.Name, b.Name) })
	return out
}
