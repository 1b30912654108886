package route

import (
	"errors"
	"fmt"
	"math"
	"testing"
)

type hm = map[string]any

func TestHeadersMatch(t *testing.T) {
	cases := []struct {
		name    string
		args    hm
		headers hm
		match   bool
	}{
		{"all/equal", hm{"x-match": "all", "a": 1, "b": "x"}, hm{"a": 1, "b": "x"}, true},
		{"all/extra headers", hm{"x-match": "all", "a": 1, "b": "x"}, hm{"a": 1, "b": "x", "c": 3}, true},
		{"all/missing key", hm{"x-match": "all", "a": 1, "b": "x"}, hm{"a": 1}, false},
		{"all/wrong value", hm{"x-match": "all", "a": 1, "b": "x"}, hm{"a": 1, "b": "y"}, false},
		{"all/no headers", hm{"x-match": "all", "a": 1}, nil, false},
		{"default is all", hm{"a": 1, "b": 2}, hm{"a": 1}, false},
		{"default is all/match", hm{"a": 1, "b": 2}, hm{"a": 1, "b": 2}, true},
		{"all/no fields matches all", hm{"x-match": "all"}, hm{"z": 1}, true},
		{"all/no fields no headers", hm{"x-match": "all"}, nil, true},
		{"no args at all", nil, nil, true},
		{"any/one", hm{"x-match": "any", "a": 1, "b": 2}, hm{"a": 1}, true},
		{"any/other", hm{"x-match": "any", "a": 1, "b": 2}, hm{"b": 2, "c": 9}, true},
		{"any/none", hm{"x-match": "any", "a": 1, "b": 2}, hm{"a": 2, "b": 1}, false},
		{"any/no headers", hm{"x-match": "any", "a": 1}, nil, false},
		{"any/no fields matches nothing", hm{"x-match": "any"}, hm{"a": 1}, false},
		{"all ignores x- args", hm{"x-match": "all", "x-foo": 1, "a": 1}, hm{"a": 1}, true},
		{"any ignores x- args", hm{"x-match": "any", "x-foo": 1}, hm{"x-foo": 1}, false},
		{"all-with-x needs x- header", hm{"x-match": "all-with-x", "x-foo": 1, "a": 1}, hm{"a": 1}, false},
		{"all-with-x", hm{"x-match": "all-with-x", "x-foo": 1, "a": 1}, hm{"a": 1, "x-foo": 1}, true},
		{"all-with-x ignores x-match", hm{"x-match": "all-with-x", "a": 1}, hm{"a": 1}, true},
		{"any-with-x", hm{"x-match": "any-with-x", "x-foo": 1, "a": 1}, hm{"x-foo": 1}, true},
		{"any-with-x/none", hm{"x-match": "any-with-x", "x-foo": 1}, hm{"x-foo": 2}, false},
		{"any-with-x ignores x-match header", hm{"x-match": "any-with-x"}, hm{"x-match": "any-with-x"}, false},
		{"void matches presence", hm{"a": nil}, hm{"a": "anything"}, true},
		{"void matches void", hm{"a": nil}, hm{"a": nil}, true},
		{"void needs presence", hm{"a": nil}, hm{"b": 1}, false},
		{"void in any", hm{"x-match": "any", "a": nil, "b": 1}, hm{"a": 0}, true},
		{"value vs void header", hm{"a": 1}, hm{"a": nil}, false},
		{"empty string is not void", hm{"a": ""}, hm{"a": "x"}, false},
		{"empty string equals empty", hm{"a": ""}, hm{"a": ""}, true},
		{"int8 = int64", hm{"a": int8(1)}, hm{"a": int64(1)}, true},
		{"int32 = float64", hm{"a": int32(1)}, hm{"a": 1.0}, true},
		{"float32 = float64", hm{"a": float32(1.5)}, hm{"a": 1.5}, true},
		{"uint16 = int", hm{"a": uint16(7)}, hm{"a": 7}, true},
		{"int != other int", hm{"a": 1}, hm{"a": 2}, false},
		{"int != string", hm{"a": 1}, hm{"a": "1"}, false},
		{"big uint != -1", hm{"a": uint64(math.MaxUint64)}, hm{"a": int64(-1)}, false},
		{"big uint = big uint", hm{"a": uint64(math.MaxUint64)}, hm{"a": uint64(math.MaxUint64)}, true},
		{"string = bytes", hm{"a": "abc"}, hm{"a": []byte("abc")}, true},
		{"bool", hm{"a": true}, hm{"a": true}, true},
		{"bool != int", hm{"a": true}, hm{"a": 1}, false},
		{"nested table", hm{"a": hm{"x": 1}}, hm{"a": hm{"x": 1}}, true},
		{"nested table differs", hm{"a": hm{"x": 1}}, hm{"a": hm{"x": 2}}, false},
		{"array", hm{"a": []any{"x", 1}}, hm{"a": []any{"x", 1}}, true},
		{"x-match bytes", hm{"x-match": []byte("any"), "a": 1, "b": 2}, hm{"b": 2}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := New[string](Headers)
			mustBind(t, r, "q", "ignored", tc.args)
			got := r.Route("whatever", tc.headers, nil)
			if (len(got) == 1) != tc.match {
				t.Errorf("args %v, headers %v: Route = %v, want match %v", tc.args, tc.headers, got, tc.match)
			}
		})
	}
}

func TestHeadersBadXMatch(t *testing.T) {
	r := New[string](Headers)
	for _, v := range []any{"some", "ALL", 1, nil} {
		ok, err := r.Bind("q", "", hm{"x-match": v})
		if ok || !errors.Is(err, ErrXMatch) {
			t.Errorf("x-match %#v: Bind = %v, %v; want ErrXMatch", v, ok, err)
		}
	}
	if r.Len() != 0 {
		t.Fatalf("Len = %d after refused binds", r.Len())
	}
	// Other kinds keep x-match as an ordinary argument.
	if _, err := New[string](Topic).Bind("q", "", hm{"x-match": "some"}); err != nil {
		t.Fatalf("topic Bind: %v", err)
	}
}

func TestHeadersManyBindings(t *testing.T) {
	r := New[string](Headers)
	for i := range 40 {
		mustBind(t, r, fmt.Sprint("q", i%20), fmt.Sprint(i), hm{"x-match": "any", "n": i % 4})
	}
	got := sorted(r.Route("", hm{"n": int8(1)}, nil))
	want := sorted([]string{"q1", "q5", "q9", "q13", "q17"})
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("Route = %v, want %v", got, want)
	}
	if n := r.UnbindDest("q1"); n != 2 {
		t.Fatalf("UnbindDest = %d, want 2", n)
	}
	if got := r.Route("", hm{"n": 1}, nil); len(got) != 4 {
		t.Fatalf("after UnbindDest: %v", got)
	}
}
