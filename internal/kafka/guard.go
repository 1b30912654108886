package kafka

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"reflect"
	"sync"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Why this file exists: kmsg (v1.15.0) reads a tagged-field section as
// "for n := count; n > 0; n-- { read key, size, value }" and goes on
// counting after its input has run out. A body a few bytes long that
// announces 2^32-1 tagged fields therefore costs some 40 seconds of CPU to
// reject; any client could burn the broker's cores with a handful of
// frames. checkTags walks a flexible-version body before kmsg sees it and
// refuses one whose tag sections (or arrays) announce more entries than the
// bytes left could hold, so that kmsg's loops stay bounded by the frame
// size. Non-flexible versions have no tag sections, and kmsg bounds their
// arrays by the bytes left, so they need no walk.
//
// The walk needs each request's layout at each version: which fields are
// on the wire, in order, and which are tagged (in the tag section, not
// inline). Rather than keep a second copy of Kafka's message definitions,
// the layout is learned from kmsg itself, once per key and version: fields
// come from the request struct by reflection, and whether a field is on
// the wire, inline or tagged, from encoding the request with and without
// that field set (see probeStruct).

// errTags is wrapped by errors from checkTags.
var errTags = errors.New("bad tagged fields or counts")

// wireKind is how a field is encoded.
type wireKind uint8

const (
	wireFixed     wireKind = iota // n bytes
	wireString                    // int16 length (-1: null), or compact
	wireBytes                     // int32 length (-1: null), or compact
	wireArray                     // int32 count (-1: null), or compact; elements of elem
	wireStructArr                 // as wireArray, elements of the struct sub
)

type wireField struct {
	name string
	kind wireKind
	n    int         // wireFixed: size
	elem *wireField  // wireArray: the element
	sub  *wireLayout // wireStructArr: the element's layout
}

// wireLayout is a struct's inline fields at one version, in wire order. In
// a flexible version a tag section follows them.
type wireLayout struct {
	fields []wireField
}

type layoutKey struct{ key, version int16 }

var layouts sync.Map // layoutKey → *wireLayout, or error

// checkTags walks body, a flexible-version request of kreq's kind and
// version, and returns an error wrapping errTags if a count in it could
// not be satisfied by the bytes that follow.
func checkTags(kreq kmsg.Request, body []byte) error {
	l, err := layoutOf(kreq)
	if err != nil {
		return err
	}
	w := walker{src: body}
	w.walk(l)
	if w.err != nil {
		return fmt.Errorf("%w: %v", errTags, w.err)
	}
	return nil
}

func layoutOf(kreq kmsg.Request) (*wireLayout, error) {
	k := layoutKey{kreq.Key(), kreq.GetVersion()}
	if v, ok := layouts.Load(k); ok {
		if err, bad := v.(error); bad {
			return nil, err
		}
		return v.(*wireLayout), nil
	}
	l, err := learnLayout(k.key, k.version)
	if err != nil {
		layouts.Store(k, err)
		return nil, err
	}
	layouts.Store(k, l)
	return l, nil
}

// walker reads a body along a layout, in flexible encoding.
type walker struct {
	src []byte
	err error
}

func (w *walker) fail(format string, args ...any) {
	if w.err == nil {
		w.err = fmt.Errorf(format, args...)
	}
	w.src = nil
}

func (w *walker) skip(n uint64) {
	if w.err != nil {
		return
	}
	if n > uint64(len(w.src)) {
		w.fail("%d bytes announced, %d left", n, len(w.src))
		return
	}
	w.src = w.src[n:]
}

func (w *walker) uvarint() uint64 {
	if w.err != nil {
		return 0
	}
	v, n := binary.Uvarint(w.src)
	if n <= 0 || v > 1<<32-1 {
		w.fail("bad uvarint")
		return 0
	}
	w.src = w.src[n:]
	return v
}

// count reads a compact length or count (stored plus one; 0 is null) and
// checks that each of its items, at least min bytes, fits.
func (w *walker) count(min uint64) uint64 {
	n := w.uvarint()
	if n == 0 {
		return 0
	}
	n--
	if n*min > uint64(len(w.src)) {
		w.fail("count %d does not fit the %d bytes left", n, len(w.src))
		return 0
	}
	return n
}

func (w *walker) walk(l *wireLayout) {
	for i := range l.fields {
		if w.err != nil {
			return
		}
		w.field(&l.fields[i])
	}
	w.tags()
}

func (w *walker) field(f *wireField) {
	switch f.kind {
	case wireFixed:
		w.skip(uint64(f.n))
	case wireString, wireBytes:
		w.skip(w.count(1))
	case wireArray:
		for n := w.count(1); n > 0 && w.err == nil; n-- {
			w.field(f.elem)
		}
	case wireStructArr:
		for n := w.count(1); n > 0 && w.err == nil; n-- {
			w.walk(f.sub)
		}
	}
}

// tags skips a tag section: a count (not plus one, unlike compact
// lengths), then per field a key, a size and that many bytes, so at least
// two bytes each.
func (w *walker) tags() {
	n := w.uvarint()
	if n*2 > uint64(len(w.src)) {
		w.fail("%d tagged fields do not fit the %d bytes left", n, len(w.src))
		return
	}
	for ; n > 0 && w.err == nil; n-- {
		w.uvarint()
		w.skip(w.uvarint())
	}
}

// learnLayout learns the layout of request key at version by probing
// kmsg's encoder.
func learnLayout(key, version int16) (*wireLayout, error) {
	kreq := kmsg.RequestForKey(key)
	if kreq == nil {
		return nil, fmt.Errorf("kafka: no request type for key %d", key)
	}
	return probeStruct(key, version, nil)
}

// newRequest returns a default request of key at version in which, along
// path (indices of struct-array fields, level by level), each array holds
// one default element, and the struct value the path ends at.
func newRequest(key, version int16, path []int) (kmsg.Request, reflect.Value) {
	kreq := kmsg.RequestForKey(key)
	kreq.SetVersion(version)
	v := reflect.ValueOf(kreq).Elem()
	for _, i := range path {
		f := v.Field(i)
		elem := newDefault(f.Type().Elem())
		f.Set(reflect.Append(reflect.MakeSlice(f.Type(), 0, 1), elem))
		v = f.Index(0)
	}
	return kreq, v
}

// newDefault returns a value of struct type t with kmsg's defaults.
func newDefault(t reflect.Type) reflect.Value {
	p := reflect.New(t)
	if d, ok := p.Interface().(interface{ Default() }); ok {
		d.Default()
	}
	return p.Elem()
}

// probeStruct learns the layout of the struct at path. Each field is set
// to a value other than its default and the request encoded again: if the
// encoding does not change, the field is not on the wire at this version.
// If it changes where the struct's tag count was (0 becoming 1, with more
// bytes after), the field is tagged; otherwise it is inline. No inline
// field can look tagged: probe values never turn a 0 byte into a 1 while
// growing the encoding (compact lengths of non-empty values are at least
// 2, integers are changed by xor with 0x55 bytes, a bool keeps the size).
func probeStruct(key, version int16, path []int) (*wireLayout, error) {
	baseReq, sv := newRequest(key, version, path)
	base := baseReq.AppendTo(nil)
	flexible := baseReq.IsFlexible()
	l := &wireLayout{}
	t := sv.Type()
	for i := range t.NumField() {
		sf := t.Field(i)
		if sf.Name == "Version" || sf.Type == reflect.TypeOf(kmsg.Tags{}) {
			continue
		}
		if sf.Type.Kind() == reflect.Struct {
			continue // only tagged fields are structs (FetchRequest.ReplicaState)
		}
		req, v := newRequest(key, version, path)
		if err := setProbe(v.Field(i)); err != nil {
			return nil, fmt.Errorf("kafka: %s v%d field %s: %w", kmsg.NameForKey(key), version, sf.Name, err)
		}
		enc := req.AppendTo(nil)
		if bytes.Equal(enc, base) {
			continue // not on the wire at this version
		}
		if flexible && looksTagged(base, enc) {
			continue
		}
		f, err := fieldKind(sf.Type)
		if err != nil {
			return nil, fmt.Errorf("kafka: %s v%d field %s: %w", kmsg.NameForKey(key), version, sf.Name, err)
		}
		f.name = sf.Name
		if f.kind == wireStructArr {
			sub, err := probeStruct(key, version, append(append([]int(nil), path...), i))
			if err != nil {
				return nil, err
			}
			f.sub = sub
		}
		l.fields = append(l.fields, f)
	}
	return l, nil
}

// looksTagged reports whether enc differs from base by a tag section
// that went from empty to one field.
func looksTagged(base, enc []byte) bool {
	p := 0
	for p < len(base) && base[p] == enc[p] {
		p++
	}
	return p < len(base) && base[p] == 0 && enc[p] == 1 && len(enc) > len(base)+1
}

// fieldKind maps a kmsg field's Go type to its wire kind.
func fieldKind(t reflect.Type) (wireField, error) {
	switch t.Kind() {
	case reflect.Bool, reflect.Int8, reflect.Uint8:
		return wireField{kind: wireFixed, n: 1}, nil
	case reflect.Int16, reflect.Uint16:
		return wireField{kind: wireFixed, n: 2}, nil
	case reflect.Int32, reflect.Uint32:
		return wireField{kind: wireFixed, n: 4}, nil
	case reflect.Int64, reflect.Uint64, reflect.Float64:
		return wireField{kind: wireFixed, n: 8}, nil
	case reflect.String:
		return wireField{kind: wireString}, nil
	case reflect.Pointer:
		if t.Elem().Kind() == reflect.String {
			return wireField{kind: wireString}, nil
		}
	case reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			return wireField{kind: wireFixed, n: t.Len()}, nil
		}
	case reflect.Slice:
		switch e := t.Elem(); e.Kind() {
		case reflect.Uint8:
			return wireField{kind: wireBytes}, nil
		case reflect.Struct:
			return wireField{kind: wireStructArr}, nil
		default:
			elem, err := fieldKind(e)
			if err != nil {
				return wireField{}, err
			}
			return wireField{kind: wireArray, elem: &elem}, nil
		}
	}
	return wireField{}, fmt.Errorf("unsupported type %v", t)
}

// setProbe sets v to a value other than its default (see probeStruct).
func setProbe(v reflect.Value) error {
	switch v.Kind() {
	case reflect.Bool:
		v.SetBool(!v.Bool())
	case reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(v.Int() ^ 0x5555)
	case reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(v.Uint() ^ 0x5555)
	case reflect.Float64:
		v.SetFloat(v.Float() + 1.5)
	case reflect.String:
		v.SetString(v.String() + "x")
	case reflect.Pointer:
		if v.Type().Elem().Kind() != reflect.String {
			return fmt.Errorf("unsupported type %v", v.Type())
		}
		s := "x"
		if !v.IsNil() {
			s = v.Elem().String() + "x"
		}
		v.Set(reflect.ValueOf(&s))
	case reflect.Array:
		for i := range v.Len() {
			v.Index(i).SetUint(v.Index(i).Uint() ^ 0x55)
		}
	case reflect.Slice:
		e := v.Type().Elem()
		var elem reflect.Value
		switch e.Kind() {
		case reflect.Uint8:
			elem = reflect.ValueOf(byte(0x55))
		case reflect.Struct:
			elem = newDefault(e)
		default:
			elem = reflect.Zero(e)
		}
		v.Set(reflect.Append(v, elem))
	default:
		return fmt.Errorf("unsupported type %v", v.Type())
	}
	return nil
}
