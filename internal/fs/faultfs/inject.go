package faultfs

import (
	"errors"
	"io"
	"math/rand/v2"
	"strings"
	"sync"
)

// ErrInjected is a ready error for tests that do not care which one.
var ErrInjected = errors.New("faultfs: injected error")

// Injector decides whether a call fails. MaybeError is called before each
// operation with the path concerned (for Rename, the old name) and returns
// the error to fail it with, or nil to let it through. It may be called from
// several goroutines at once.
type Injector interface {
	MaybeError(op Op, path string) error
}

// InjectorFunc lets a function be an Injector.
type InjectorFunc func(op Op, path string) error

func (f InjectorFunc) MaybeError(op Op, path string) error { return f(op, path) }

// OnOp fails every call of op with err.
func OnOp(op Op, err error) Injector {
	return InjectorFunc(func(o Op, _ string) error {
		if o == op {
			return err
		}
		return nil
	})
}

// PathContains lets inj fail only calls whose path contains substr, such as
// ".index" or a partition's directory.
func PathContains(substr string, inj Injector) Injector {
	return InjectorFunc(func(op Op, path string) error {
		if !strings.Contains(path, substr) {
			return nil
		}
		return inj.MaybeError(op, path)
	})
}

// Any fails a call with the first error one of injs returns. Every injector
// is asked, so that counting ones such as Nth see every call.
func Any(injs ...Injector) Injector {
	return InjectorFunc(func(op Op, path string) error {
		var first error
		for _, inj := range injs {
			if err := inj.MaybeError(op, path); err != nil && first == nil {
				first = err
			}
		}
		return first
	})
}

// Nth lets through only the n-th error of inj (counting from 1) and none
// after it: Nth(3, OnOp(OpSync, err)) fails the third sync alone.
func Nth(n int, inj Injector) Injector {
	var (
		mu   sync.Mutex
		seen int
	)
	return InjectorFunc(func(op Op, path string) error {
		err := inj.MaybeError(op, path)
		if err == nil {
			return nil
		}
		mu.Lock()
		defer mu.Unlock()
		seen++
		if seen == n {
			return err
		}
		return nil
	})
}

// Random lets each error of inj through with probability p, drawn from rng;
// rng is used only when inj has an error, so a seed replays the same faults
// for the same sequence of calls.
func Random(rng *rand.Rand, p float64, inj Injector) Injector {
	var mu sync.Mutex // *rand.Rand is not safe for concurrent use
	return InjectorFunc(func(op Op, path string) error {
		err := inj.MaybeError(op, path)
		if err == nil {
			return nil
		}
		mu.Lock()
		defer mu.Unlock()
		if rng.Float64() < p {
			return err
		}
		return nil
	})
}

// Switch is an Injector a test can change while the engine runs. The zero
// Switch injects nothing.
type Switch struct {
	mu  sync.RWMutex
	inj Injector
}

// Set makes s behave as inj from now on.
func (s *Switch) Set(inj Injector) {
	s.mu.Lock()
	s.inj = inj
	s.mu.Unlock()
}

// Clear stops all injection.
func (s *Switch) Clear() { s.Set(nil) }

func (s *Switch) MaybeError(op Op, path string) error {
	s.mu.RLock()
	inj := s.inj
	s.mu.RUnlock()
	if inj == nil {
		return nil
	}
	return inj.MaybeError(op, path)
}

// ShortWrite is an error that, injected into a write, makes the write put
// the first half of its bytes (rounded down) into the file before failing
// with it, as a write interrupted by a full disk does. errors.Is sees Err
// through it. Injected into any other operation it fails that operation
// like any other error.
type ShortWrite struct {
	Err error // what the write reports; io.ErrShortWrite if nil
}

// Short returns a ShortWrite failing with err.
func Short(err error) *ShortWrite { return &ShortWrite{Err: err} }

func (e *ShortWrite) Error() string { return "short write: " + e.cause().Error() }
func (e *ShortWrite) Unwrap() error { return e.cause() }

func (e *ShortWrite) cause() error {
	if e.Err == nil {
		return io.ErrShortWrite
	}
	return e.Err
}
