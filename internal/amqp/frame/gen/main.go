// Command gen writes methods_gen.go from spec.amqp: one struct per AMQP
// method with its ids, encoder and decoder, the decodeMethod dispatch, and
// the protocol constants. Run it through `go generate` in the package
// directory.
package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"go/format"
	"io"
	"log"
	"os"
	"strconv"
	"strings"
)

func main() {
	in := flag.String("in", "spec.amqp", "definition to read")
	out := flag.String("out", "methods_gen.go", "file to write")
	flag.Parse()
	f, err := os.Open(*in)
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	src, err := generate(f)
	if err != nil {
		log.Fatalf("%s: %v", *in, err)
	}
	if err := os.WriteFile(*out, src, 0o644); err != nil {
		log.Fatal(err)
	}
}

type spec struct {
	constants []constant
	domains   map[string]string
	classes   []*class
}

type constant struct {
	name  string
	value int
}

type class struct {
	name    string
	id      int
	methods []*method
}

type method struct {
	name    string
	id      int
	sync    bool
	content bool
	fields  []field
}

type field struct {
	name string
	typ  string // primitive, domains resolved
}

var primitives = map[string]bool{
	"bit": true, "octet": true, "short": true, "long": true, "longlong": true,
	"shortstr": true, "longstr": true, "table": true, "timestamp": true,
}

// parse reads the line format documented at the top of spec.amqp.
func parse(r io.Reader) (*spec, error) {
	s := &spec{domains: map[string]string{}}
	var c *class
	var m *method
	sc := bufio.NewScanner(r)
	for line := 1; sc.Scan(); line++ {
		text, _, _ := strings.Cut(sc.Text(), "#")
		tok := strings.Fields(text)
		if len(tok) == 0 {
			continue
		}
		bad := func(why string) error { return fmt.Errorf("line %d: %s", line, why) }
		switch tok[0] {
		case "constant":
			if len(tok) < 3 {
				return nil, bad("constant needs a name and a value")
			}
			v, err := strconv.Atoi(tok[2])
			if err != nil {
				return nil, bad(err.Error())
			}
			s.constants = append(s.constants, constant{tok[1], v})
		case "domain":
			if len(tok) != 3 || !primitives[tok[2]] {
				return nil, bad("domain needs a name and a primitive type")
			}
			s.domains[tok[1]] = tok[2]
		case "class":
			if len(tok) != 3 {
				return nil, bad("class needs a name and an id")
			}
			id, err := strconv.Atoi(tok[2])
			if err != nil {
				return nil, bad(err.Error())
			}
			c, m = &class{name: tok[1], id: id}, nil
			s.classes = append(s.classes, c)
		case "method":
			if c == nil || len(tok) < 3 {
				return nil, bad("method needs a class, a name and an id")
			}
			id, err := strconv.Atoi(tok[2])
			if err != nil {
				return nil, bad(err.Error())
			}
			m = &method{name: tok[1], id: id}
			for _, flag := range tok[3:] {
				switch flag {
				case "sync":
					m.sync = true
				case "content":
					m.content = true
				default:
					return nil, bad("unknown method flag " + flag)
				}
			}
			c.methods = append(c.methods, m)
		default:
			if m == nil || len(tok) != 2 {
				return nil, bad("field needs a method, a name and a domain")
			}
			typ := tok[1]
			if !primitives[typ] {
				typ = s.domains[typ]
			}
			if typ == "" {
				return nil, bad("unknown domain " + tok[1])
			}
			m.fields = append(m.fields, field{tok[0], typ})
		}
	}
	return s, sc.Err()
}

// goName turns "auto-delete" into "AutoDelete". A few AMQP names run words
// together; spelling them as Go readers expect beats faithfulness.
func goName(s string) string {
	switch s {
	case "nowait":
		return "NoWait"
	case "ok":
		return "OK"
	case "id":
		return "ID"
	}
	var b strings.Builder
	for part := range strings.SplitSeq(s, "-") {
		switch part {
		case "nowait":
			b.WriteString("NoWait")
		case "ok":
			b.WriteString("OK")
		case "id":
			b.WriteString("ID")
		default:
			b.WriteString(strings.ToUpper(part[:1]) + part[1:])
		}
	}
	return b.String()
}

// fieldNames renames fields that would collide with the Method interface's
// methods. In connection.close and channel.close, class-id and method-id
// name the method that failed; read and write are access.request's rights.
var fieldNames = map[string]string{
	"class-id":  "FailedClassID",
	"method-id": "FailedMethodID",
	"read":      "ReadAccess",
	"write":     "WriteAccess",
}

func fieldName(s string) string {
	if n, ok := fieldNames[s]; ok {
		return n
	}
	return goName(s)
}

var goTypes = map[string]string{
	"bit": "bool", "octet": "uint8", "short": "uint16", "long": "uint32",
	"longlong": "uint64", "shortstr": "string", "longstr": "string",
	"table": "Table", "timestamp": "time.Time",
}

var codecs = map[string]string{
	"octet": "Octet", "short": "Short", "long": "Long", "longlong": "LongLong",
	"shortstr": "ShortStr", "longstr": "LongStr", "table": "Table",
	"timestamp": "Timestamp",
}

func generate(r io.Reader) ([]byte, error) {
	s, err := parse(r)
	if err != nil {
		return nil, err
	}
	if len(s.classes) == 0 {
		return nil, errors.New("no classes")
	}
	var b bytes.Buffer
	p := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	p("// Code generated by ./gen from spec.amqp. DO NOT EDIT.\n")
	p("package frame\n")
	usesTime := false
	for _, c := range s.classes {
		for _, m := range c.methods {
			for _, f := range m.fields {
				usesTime = usesTime || f.typ == "timestamp"
			}
		}
	}
	p("import (\n\"fmt\"")
	if usesTime {
		p("\"time\"")
	}
	p(")\n")

	p("// Protocol constants: frame types and sizes, and reply codes.")
	p("const (")
	for _, k := range s.constants {
		p("%s = %d", goName(k.name), k.value)
	}
	p(")\n")

	p("// Class ids.")
	p("const (")
	for _, c := range s.classes {
		p("Class%s uint16 = %d", goName(c.name), c.id)
	}
	p(")\n")

	for _, c := range s.classes {
		for _, m := range c.methods {
			writeMethod(p, c, m)
		}
	}

	p("// newMethod returns a zero method for (class, method), or nil if the")
	p("// pair is unknown.")
	p("func newMethod(class, method uint16) Method {")
	p("switch uint32(class)<<16 | uint32(method) {")
	for _, c := range s.classes {
		for _, m := range c.methods {
			p("case %d<<16 | %d:", c.id, m.id)
			p("return new(%s)", goName(c.name)+goName(m.name))
		}
	}
	p("}")
	p("return nil")
	p("}\n")
	p("// decodeMethod decodes the arguments of method (class, method) from")
	p("// payload, which must hold exactly those arguments.")
	p("func decodeMethod(class, method uint16, payload []byte) (Method, error) {")
	p("m := newMethod(class, method)")
	p("if m == nil {")
	p("return nil, fmt.Errorf(\"%%w: %%d.%%d\", ErrUnknownMethod, class, method)")
	p("}")
	p("r := NewReader(payload)")
	p("m.Read(r)")
	p("if err := r.finish(); err != nil {")
	p("return nil, fmt.Errorf(\"%%s: %%w\", m.Name(), err)")
	p("}")
	p("return m, nil")
	p("}")
	return format.Source(b.Bytes())
}

func writeMethod(p func(string, ...any), c *class, m *method) {
	typ := goName(c.name) + goName(m.name)
	p("// %s is %s.%s (%d, %d).", typ, c.name, m.name, c.id, m.id)
	p("type %s struct {", typ)
	for _, f := range m.fields {
		p("%s %s", fieldName(f.name), goTypes[f.typ])
	}
	p("}\n")
	p("func (*%s) ClassID() uint16 { return %d }", typ, c.id)
	p("func (*%s) MethodID() uint16 { return %d }", typ, m.id)
	p("func (*%s) Name() string { return %q }", typ, c.name+"."+m.name)
	p("func (*%s) Synchronous() bool { return %t }", typ, m.sync)
	p("func (*%s) HasContent() bool { return %t }\n", typ, m.content)

	recv := "m"
	if len(m.fields) == 0 {
		recv = "*"
	}
	p("// Write encodes the arguments.")
	if recv == "*" {
		p("func (*%s) Write(w *Writer) {}\n", typ)
		p("// Read decodes the arguments.")
		p("func (*%s) Read(r *Reader) {}\n", typ)
		return
	}
	p("func (m *%s) Write(w *Writer) {", typ)
	for _, g := range groups(m.fields) {
		if g[0].typ != "bit" {
			p("w.%s(m.%s)", codecs[g[0].typ], fieldName(g[0].name))
			continue
		}
		p("{")
		p("var bits uint8")
		for i, f := range g {
			p("if m.%s { bits |= 1 << %d }", fieldName(f.name), i)
		}
		p("w.Octet(bits)")
		p("}")
	}
	p("}\n")
	p("// Read decodes the arguments.")
	p("func (m *%s) Read(r *Reader) {", typ)
	for _, g := range groups(m.fields) {
		if g[0].typ != "bit" {
			p("m.%s = r.%s()", fieldName(g[0].name), codecs[g[0].typ])
			continue
		}
		p("{")
		p("bits := r.Octet()")
		for i, f := range g {
			p("m.%s = bits&(1<<%d) != 0", fieldName(f.name), i)
		}
		p("}")
	}
	p("}\n")
}

// groups splits fields into single non-bit fields and runs of up to eight
// consecutive bits, which AMQP packs into one octet, lowest bit first.
func groups(fields []field) [][]field {
	var out [][]field
	for i := 0; i < len(fields); {
		if fields[i].typ != "bit" {
			out = append(out, fields[i:i+1])
			i++
			continue
		}
		j := i
		for j < len(fields) && j-i < 8 && fields[j].typ == "bit" {
			j++
		}
		out = append(out, fields[i:j])
		i = j
	}
	return out
}
