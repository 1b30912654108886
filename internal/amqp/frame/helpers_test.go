package frame

import (
	"reflect"
	"time"
)

// equal is reflect.DeepEqual, except that times compare as instants.
func equal(a, b any) bool {
	if ta, ok := a.(time.Time); ok {
		tb, ok := b.(time.Time)
		return ok && ta.Equal(tb)
	}
	return reflect.DeepEqual(a, b)
}

// encodeTable returns t's wire form or panics; for tests only.
func encodeTable(t Table) []byte {
	w := NewWriter(nil)
	w.Table(t)
	if w.Err() != nil {
		panic(w.Err())
	}
	return w.Bytes()
}
