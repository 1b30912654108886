package server

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"
	"time"

	"github.com/loftmq/loft/internal/fs"
)

func TestReadyzFollowsReadiness(t *testing.T) {
	s := &Server{}
	h := s.healthHandler()
	for _, ready := range []bool{false, true, false} {
		s.ready.Store(ready)
		want := http.StatusServiceUnavailable
		if ready {
			want = http.StatusOK
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
		if rec.Code != want {
			t.Errorf("ready=%v: /readyz = %d, want %d", ready, rec.Code, want)
		}
		rec = httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/healthz", nil))
		if rec.Code != http.StatusOK {
			t.Errorf("ready=%v: /healthz = %d, want 200", ready, rec.Code)
		}
	}
}

func TestShutdownRunsStepsInOrder(t *testing.T) {
	var ran []string
	mk := func(name string, err error) step {
		return step{name, func(context.Context) error { ran = append(ran, name); return err }}
	}
	boom := errors.New("boom")
	steps := []step{mk("listeners", nil), mk("store", boom), mk("lock", nil)}
	err := shutdownWithin(time.Second, steps)
	if !errors.Is(err, boom) || err.Error() != "server: store: boom" {
		t.Errorf("err = %v, want server: store: boom", err)
	}
	if want := []string{"listeners", "store", "lock"}; !reflect.DeepEqual(ran, want) {
		t.Errorf("ran %v, want %v: a failed step must not skip the rest", ran, want)
	}
	if got := reversed(steps); got[0].name != "lock" || got[2].name != "listeners" {
		t.Errorf("reversed: %v", got)
	}
}

func TestShutdownIsBounded(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	lockReleased := make(chan struct{})
	steps := []step{
		{"stuck store", func(context.Context) error { <-release; return nil }},
		{"lock", func(context.Context) error { close(lockReleased); return nil }},
	}
	begin := time.Now()
	err := shutdownWithin(100*time.Millisecond, steps)
	if !errors.Is(err, ErrShutdownTimeout) {
		t.Fatalf("err = %v, want ErrShutdownTimeout", err)
	}
	if d := time.Since(begin); d > 5*time.Second {
		t.Errorf("shutdownWithin returned after %v, want about 100ms", d)
	}
	select {
	case <-lockReleased:
		t.Error("lock released while the store was still closing")
	default:
	}
}

func TestShutdownStepsSeeDeadline(t *testing.T) {
	err := shutdownWithin(time.Minute, []step{{"check", func(ctx context.Context) error {
		if _, ok := ctx.Deadline(); !ok {
			return errors.New("no deadline")
		}
		return nil
	}}})
	if err != nil {
		t.Fatal(err)
	}
}

func TestMkdirDurableSurvivesCrash(t *testing.T) {
	m := fs.NewMem()
	if err := m.MkdirAll("srv"); err != nil {
		t.Fatal(err)
	}
	if err := m.SyncDir("."); err != nil {
		t.Fatal(err)
	}
	dir := "srv/loft/data"
	if err := mkdirDurable(m, dir); err != nil {
		t.Fatal(err)
	}
	if err := mkdirDurable(m, dir); err != nil {
		t.Fatalf("existing dir: %v", err)
	}
	m.Crash()
	if _, err := m.Stat(dir); err != nil {
		t.Fatalf("data dir lost in a crash after mkdirDurable: %v", err)
	}
}
