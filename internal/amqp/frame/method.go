package frame

// Method is one AMQP method's arguments. The concrete types live in
// methods_gen.go; a method frame's payload is the class id, the method id
// and then what Write produces.
type Method interface {
	ClassID() uint16
	MethodID() uint16
	// Name is the spec's dotted name, e.g. "basic.publish", for logs and
	// close texts.
	Name() string
	// Synchronous reports whether the method expects a reply method.
	Synchronous() bool
	// HasContent reports whether a content header and body frames follow.
	HasContent() bool
	Write(w *Writer)
	Read(r *Reader)
}

// DecodeMethod decodes a method frame's payload.
func DecodeMethod(payload []byte) (Method, error) {
	r := NewReader(payload)
	class, method := r.Short(), r.Short()
	if r.err != nil {
		return nil, r.err
	}
	return decodeMethod(class, method, payload[4:])
}

// AppendMethod appends m's frame payload (ids and arguments) to buf.
func AppendMethod(buf []byte, m Method) ([]byte, error) {
	w := NewWriter(buf)
	w.Short(m.ClassID())
	w.Short(m.MethodID())
	m.Write(w)
	return w.buf, w.err
}
