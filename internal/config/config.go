package config

import (
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"

	"github.com/loftmq/loft/internal/logstore"
)

// Config is the configuration of one server process.
type Config struct {
	// DataDir holds every log and the LOCK that keeps a second process out.
	DataDir string
	// KafkaAddr, AMQPAddr and HTTPAddr are the listeners' host:port.
	// An empty address disables that listener.
	KafkaAddr string
	AMQPAddr  string
	HTTPAddr  string
	// Fsync says when an append counts as durable; see logstore.FsyncPolicy.
	Fsync logstore.FsyncPolicy
	// LogLevel is one of LogLevels; LogFormat one of LogFormats.
	LogLevel  string
	LogFormat string
}

// The accepted values of Config.LogLevel and Config.LogFormat.
var (
	LogLevels  = []string{"debug", "info", "warn", "error"}
	LogFormats = []string{"text", "json"}
)

// ErrInvalid is wrapped by every error Validate returns.
var ErrInvalid = errors.New("config: invalid configuration")

// Default returns the built-in defaults: listeners on loopback only, so a
// server started without configuration is not reachable from the network,
// and fsync on every append, so acknowledged means durable.
func Default() Config {
	return Config{
		DataDir:   "./loft-data",
		KafkaAddr: "127.0.0.1:9092",
		AMQPAddr:  "127.0.0.1:5672",
		HTTPAddr:  "127.0.0.1:15672",
		Fsync:     logstore.FsyncPolicy{Mode: logstore.FsyncAlways},
		LogLevel:  "info",
		LogFormat: "text",
	}
}

// Validate reports the first setting the server cannot start with. It is
// needed even though flags check their values on Set, because a Config may
// also be built in code (tests, embedding).
func (c Config) Validate() error {
	var errs []error
	if c.DataDir == "" {
		errs = append(errs, errors.New("data-dir must not be empty"))
	}
	for _, a := range []struct{ name, addr string }{
		{"kafka-addr", c.KafkaAddr},
		{"amqp-addr", c.AMQPAddr},
		{"http-addr", c.HTTPAddr},
	} {
		if err := checkAddr(a.addr); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", a.name, err))
		}
	}
	if err := checkFsync(c.Fsync); err != nil {
		errs = append(errs, fmt.Errorf("fsync: %w", err))
	}
	if err := checkChoice(c.LogLevel, LogLevels); err != nil {
		errs = append(errs, fmt.Errorf("log-level: %w", err))
	}
	if err := checkChoice(c.LogFormat, LogFormats); err != nil {
		errs = append(errs, fmt.Errorf("log-format: %w", err))
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %w", ErrInvalid, errors.Join(errs...))
	}
	return nil
}

// checkAddr accepts "" (listener disabled) or host:port with a numeric
// port. The host may be empty (":9092", every interface). Named ports are
// refused: they depend on /etc/services and make the port hard to read.
func checkAddr(addr string) error {
	if addr == "" {
		return nil
	}
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q: want host:port, e.g. 127.0.0.1:9092 (empty disables the listener)", addr)
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || n > 65535 {
		return fmt.Errorf("%q: port %q must be a number from 0 to 65535", addr, port)
	}
	return nil
}

// checkFsync catches policies built in code that ParseFsyncPolicy would
// never return, such as an interval of zero, which would sync in a loop.
func checkFsync(p logstore.FsyncPolicy) error {
	switch p.Mode {
	case logstore.FsyncAlways, logstore.FsyncNever:
		return nil
	case logstore.FsyncInterval:
		if p.Interval > 0 {
			return nil
		}
		return fmt.Errorf("interval %v must be positive", p.Interval)
	}
	return fmt.Errorf("unknown mode %d", p.Mode)
}

func checkChoice(v string, choices []string) error {
	if slices.Contains(choices, v) {
		return nil
	}
	return fmt.Errorf("%q: want one of %s", v, strings.Join(choices, ", "))
}
