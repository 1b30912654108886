package config

import (
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
