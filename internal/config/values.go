package config

import (
	"fmt"
	"strconv"

	"github.com/loftmq/loft/internal/logstore"
)

// The pflag.Values below check their input on Set, so a bad value is
// reported with its source (flag, environment variable or file line) rather
// than later by Validate, which could only name the setting.

// addrValue is a listener address: host:port, or empty to disable.
type addrValue string

func (v *addrValue) Set(s string) error {
	if err := checkAddr(s); err != nil {
		return err
	}
	*v = addrValue(s)
	return nil
}

func (v *addrValue) String() string { return string(*v) }
func (v *addrValue) Type() string   { return "host:port" }

// fsyncValue parses with logstore.ParseFsyncPolicy, the one parser of the
// policy syntax.
type fsyncValue logstore.FsyncPolicy

func (v *fsyncValue) Set(s string) error {
	p, err := logstore.ParseFsyncPolicy(s)
	if err != nil {
		return err
	}
	*v = fsyncValue(p)
	return nil
}

func (v *fsyncValue) String() string { return logstore.FsyncPolicy(*v).String() }
func (v *fsyncValue) Type() string   { return "policy" }

// choiceValue is a string restricted to a fixed set of words.
type choiceValue struct {
	p       *string
	choices []string
	typ     string
}

func (v choiceValue) Set(s string) error {
	if err := checkChoice(s, v.choices); err != nil {
		return err
	}
	*v.p = s
	return nil
}

func (v choiceValue) String() string { return *v.p }

func (v choiceValue) Type() string { return v.typ }

// advertisedValue is an address given to clients: host:port with a host
// and a port other than 0, or empty for the listener's own.
type advertisedValue string

func (v *advertisedValue) Set(s string) error {
	if err := checkAdvertised(s); err != nil {
		return err
	}
	*v = advertisedValue(s)
	return nil
}

func (v *advertisedValue) String() string { return string(*v) }
func (v *advertisedValue) Type() string   { return "host:port" }

// int32Value is a whole number within [lo, hi].
type int32Value struct {
	p      *int32
	lo, hi int64
	typ    string
}

func (v int32Value) Set(s string) error {
	n, err := parseInt32(s, v.lo, v.hi)
	if err != nil {
		return err
	}
	*v.p = n
	return nil
}

func (v int32Value) String() string { return strconv.Itoa(int(*v.p)) }
func (v int32Value) Type() string   { return v.typ }

func parseInt32(s string, lo, hi int64) (int32, error) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a whole number", s)
	}
	if err := checkRange(n, lo, hi); err != nil {
		return 0, err
	}
	return int32(n), nil
}

// sizeValue is a number of bytes, written as parseSize reads it.
type sizeValue struct{ p *int64 }

func (v sizeValue) Set(s string) error {
	n, _, err := parseSize(s)
	if err != nil {
		return err
	}
	*v.p = n
	return nil
}

func (v sizeValue) String() string { return formatSize(*v.p) }
func (v sizeValue) Type() string   { return "size" }

// watermarkValue is a memory high watermark: the bytes parseWatermark
// resolves, and the text they came from, so that help shows the default as
// 0.4 rather than as this machine's byte count.
type watermarkValue struct {
	p    *int64
	text string
}

// newWatermarkValue knows the text of the built-in default only; any other
// initial value is printed as a size.
func newWatermarkValue(p *int64) *watermarkValue {
	v := &watermarkValue{p: p}
	if *p != 0 && *p == defaultMemoryHighWatermark() {
		v.text = DefaultMemoryHighWatermark
	}
	return v
}

func (v *watermarkValue) Set(s string) error {
	n, err := parseWatermark(s, totalMemory)
	if err != nil {
		return err
	}
	*v.p, v.text = n, s
	return nil
}

func (v *watermarkValue) String() string {
	if v.text != "" {
		return v.text
	}
	return formatSize(*v.p)
}

func (v *watermarkValue) Type() string { return "fraction|size" }
