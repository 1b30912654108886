package kafka

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// fill sets every field of the struct v to a non-default value, with two
// elements in each array (filled too, to depth 4), so that the encoding
// holds every field a version has.
func fill(t *testing.T, v reflect.Value, depth int) {
	for i := range v.NumField() {
		f := v.Field(i)
		switch {
		case v.Type().Field(i).Name == "Version", f.Type() == reflect.TypeOf(kmsg.Tags{}):
		case f.Kind() == reflect.Struct:
			fill(t, f, depth+1)
		case f.Kind() == reflect.Slice && f.Type().Elem().Kind() == reflect.Struct:
			if depth > 4 {
				continue
			}
			for range 2 {
				e := newDefault(f.Type().Elem())
				fill(t, e, depth+1)
				f.Set(reflect.Append(f, e))
			}
		default:
			if err := setProbe(f); err != nil {
				t.Fatal(err)
			}
			if f.Kind() == reflect.Slice {
				setProbe(f) // two elements
			}
		}
	}
}

// TestCheckTagsAcceptsEveryServedRequest checks the layouts learned from
// kmsg against kmsg's own encoding of every served flexible version.
func TestCheckTagsAcceptsEveryServedRequest(t *testing.T) {
	n := 0
	for _, a := range apis {
		for v := a.min; v <= a.max; v++ {
			req := a.key.Request()
			req.SetVersion(v)
			if !req.IsFlexible() {
				continue
			}
			fill(t, reflect.ValueOf(req).Elem(), 0)
			body := req.AppendTo(nil)
			l, err := layoutOf(req)
			if err != nil {
				t.Fatalf("%s v%d: %v", a.name(), v, err)
			}
			w := walker{src: body}
			w.walk(l)
			if w.err != nil || len(w.src) != 0 {
				t.Errorf("%s v%d: walk: %v, %d of %d bytes left", a.name(), v, w.err, len(w.src), len(body))
				continue
			}
			empty := a.key.Request()
			empty.SetVersion(v)
			if err := checkTags(empty, empty.AppendTo(nil)); err != nil {
				t.Errorf("%s v%d default: %v", a.name(), v, err)
			}
			// Cut anywhere, what the walk lets through kmsg decodes fast.
			for cut := range len(body) {
				dec := a.key.Request()
				dec.SetVersion(v)
				start := time.Now()
				if checkTags(dec, body[:cut]) == nil {
					dec.ReadFrom(body[:cut])
				}
				if d := time.Since(start); d > 100*time.Millisecond {
					t.Errorf("%s v%d cut at %d: %v", a.name(), v, cut, d)
				}
			}
			n++
		}
	}
	if n < 20 {
		t.Fatalf("only %d flexible versions checked", n)
	}
}

// TestCheckTagsRefusesHugeCounts sends a few bytes announcing 2^32-1 tagged
// fields, which kmsg alone would count down for tens of seconds.
func TestCheckTagsRefusesHugeCounts(t *testing.T) {
	huge := []byte{0xff, 0xff, 0xff, 0xff, 0x0f}
	tests := []struct {
		name string
		req  kmsg.Request
		body []byte
	}{
		{"top-level tags", withVersion(kmsg.NewPtrApiVersionsRequest(), 3), append([]byte{2, 'a', 2, 'b'}, huge...)},
		{"nested tags", withVersion(kmsg.NewPtrMetadataRequest(), 12), append(append([]byte{2}, make([]byte, 17)...), huge...)},
		{"array count", withVersion(kmsg.NewPtrMetadataRequest(), 12), huge},
		{"string length", withVersion(kmsg.NewPtrApiVersionsRequest(), 3), huge},
		{"tag size", withVersion(kmsg.NewPtrApiVersionsRequest(), 3), append([]byte{2, 'a', 2, 'b', 1, 0}, huge...)},
	}
	for _, tt := range tests {
		start := time.Now()
		err := checkTags(tt.req, tt.body)
		if !errors.Is(err, errTags) {
			t.Errorf("%s: %v, want errTags", tt.name, err)
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("%s: took %v", tt.name, d)
		}
	}
}
