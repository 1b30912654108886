package route

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
)

func TestParseKind(t *testing.T) {
	for _, k := range []Kind{Direct, Fanout, Topic, Headers} {
		if New[int](k).Kind() != k {
			t.Errorf("New(%v).Kind() = %v", k, New[int](k).Kind())
		}
		got, err := ParseKind(k.String())
		if err != nil || got != k {
			t.Errorf("ParseKind(%q) = %v, %v", k.String(), got, err)
		}
	}
	for _, s := range []string{"", "Direct", "x-consistent-hash"} {
		if _, err := ParseKind(s); !errors.Is(err, ErrKind) {
			t.Errorf("ParseKind(%q) err = %v, want ErrKind", s, err)
		}
	}
	if s := Kind(9).String(); s != "Kind(9)" {
		t.Errorf("Kind(9).String() = %q", s)
	}
}

func TestDirect(t *testing.T) {
	r := New[string](Direct)
	mustBind(t, r, "q1", "a", nil)
	mustBind(t, r, "q2", "a", nil)
	mustBind(t, r, "q3", "b", nil)
	mustBind(t, r, "q4", "", nil)
	mustBind(t, r, "q5", "*", nil)
	mustBind(t, r, "q6", "#", nil)
	cases := []struct {
		key  string
		want []string
	}{
		{"a", []string{"q1", "q2"}},
		{"b", []string{"q3"}},
		{"", []string{"q4"}},
		{"*", []string{"q5"}}, // no wildcards in direct exchanges
		{"c", nil},
		{"a.b", nil},
	}
	for _, tc := range cases {
		if got := sorted(r.Route(tc.key, nil, nil)); !slices.Equal(got, tc.want) {
			t.Errorf("Route(%q) = %v, want %v", tc.key, got, tc.want)
		}
	}
	r.Unbind("q1", "a", nil)
	r.Unbind("q2", "a", nil)
	if _, ok := r.direct["a"]; ok {
		t.Error("empty key set left behind")
	}
}

func TestFanout(t *testing.T) {
	r := New[string](Fanout)
	if got := r.Route("x", nil, nil); got != nil {
		t.Fatalf("empty fanout routed to %v", got)
	}
	mustBind(t, r, "q1", "", nil)
	mustBind(t, r, "q1", "k", nil) // a second binding, same destination
	mustBind(t, r, "q2", "whatever", nil)
	if got := sorted(r.Route("any.key", nil, nil)); !slices.Equal(got, []string{"q1", "q2"}) {
		t.Fatalf("Route = %v", got)
	}
	r.Unbind("q1", "", nil)
	if got := sorted(r.Route("", nil, nil)); !slices.Equal(got, []string{"q1", "q2"}) {
		t.Fatalf("after one unbind: %v", got)
	}
	r.Unbind("q1", "k", nil)
	if got := r.Route("", nil, nil); !slices.Equal(got, []string{"q2"}) {
		t.Fatalf("after both unbinds: %v", got)
	}
}

func TestBindingIdentity(t *testing.T) {
	for _, k := range []Kind{Direct, Fanout, Topic, Headers} {
		t.Run(k.String(), func(t *testing.T) {
			r := New[string](k)
			a := map[string]any{"x-match": "any", "a": 1, "b": "s", "n": map[string]any{"p": 1, "q": []any{1, "z"}}}
			b := map[string]any{}
			for _, key := range []string{"n", "b", "a", "x-match"} { // another insertion order
				b[key] = a[key]
			}
			bind := func(d, key string, args map[string]any) bool {
				ok, err := r.Bind(d, key, args)
				if err != nil {
					t.Fatal(err)
				}
				return ok
			}
			if !bind("q", "k", a) {
				t.Fatal("first Bind reported existing")
			}
			if bind("q", "k", b) {
				t.Fatal("equal arguments made a second binding")
			}
			if !bind("q", "k", map[string]any{"x-match": "any", "a": int8(1), "b": "s"}) {
				t.Fatal("arguments of another type were taken as the same binding")
			}
			if !bind("q", "k2", a) || !bind("q2", "k", a) || !bind("q", "k", nil) {
				t.Fatal("distinct binding reported existing")
			}
			if bind("q", "k", map[string]any{}) {
				t.Fatal("empty and nil arguments differ")
			}
			if r.Len() != 5 {
				t.Fatalf("Len = %d, want 5", r.Len())
			}
			if r.Unbind("q", "k", map[string]any{"a": 2}) || r.Unbind("nobody", "k", a) {
				t.Fatal("Unbind of a missing binding reported true")
			}
			if !r.Unbind("q", "k", b) {
				t.Fatal("Unbind with reordered arguments missed")
			}
			if n := r.UnbindDest("q"); n != 3 {
				t.Fatalf("UnbindDest = %d, want 3", n)
			}
			if n := r.UnbindDest("q"); n != 0 {
				t.Fatalf("second UnbindDest = %d", n)
			}
			if got := r.Bindings(); len(got) != 1 || got[0].Dest != "q2" {
				t.Fatalf("Bindings = %v", got)
			}
		})
	}
}

func TestBindingsOrderAndCopies(t *testing.T) {
	r := New[string](Topic)
	args := map[string]any{"a": 1}
	var want []string
	for i := range 50 {
		d := fmt.Sprint("q", (i*7)%50)
		mustBind(t, r, d, "k", args)
		want = append(want, d)
	}
	args["a"] = 2 // the router kept its own copy
	r.Unbind("q7", "k", map[string]any{"a": 1})
	want = slices.DeleteFunc(want, func(s string) bool { return s == "q7" })
	got := r.Bindings()
	for i, b := range got {
		if b.Dest != want[i] || b.Key != "k" || b.Args["a"] != 1 {
			t.Fatalf("Bindings[%d] = %+v, want dest %s", i, b, want[i])
		}
	}
	got[0].Args["a"] = 3
	if r.Bindings()[0].Args["a"] != 1 {
		t.Fatal("Bindings returned the router's own map")
	}
}

type dest struct {
	Kind uint8
	Name string
}

// TestConcurrentRoute runs routes against binds under the race detector.
func TestConcurrentRoute(t *testing.T) {
	r := New[dest](Topic)
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := range 2000 {
			d := dest{1, fmt.Sprint(i % 50)}
			mustBind(t, r, d, fmt.Sprintf("a.%d.#", i%7), nil)
			if i%3 == 0 {
				r.UnbindDest(d)
			}
		}
	})
	for range 2 {
		wg.Go(func() {
			var dst []dest
			for i := range 2000 {
				dst = r.Route(fmt.Sprintf("a.%d.x", i%7), nil, dst[:0])
			}
		})
	}
	wg.Wait()
}
