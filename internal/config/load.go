package config

import (
	"errors"
	"fmt"
	"math"
	"os"
	"strings"

	"github.com/spf13/pflag"
	"gopkg.in/yaml.v3"
)

// ConfigFlag names the flag (and, through EnvName, the environment
// variable LOFT_CONFIG) that selects the config file.
const ConfigFlag = "config"

// ErrFile is wrapped by errors about the contents of the config file.
var ErrFile = errors.New("config: bad config file")

// define is the single definition of every setting: name, default (taken
// from c, which the flags write to) and help. Environment names and file
// keys are derived from the names; parsing is the flags' own.
func define(flags *pflag.FlagSet, c *Config) {
	flags.StringVar(&c.DataDir, "data-dir", c.DataDir,
		"directory holding the logs; created if missing, locked while in use")
	flags.Var((*addrValue)(&c.KafkaAddr), "kafka-addr",
		`Kafka listener address ("" disables it)`)
	flags.Var((*advertisedValue)(&c.KafkaAdvertisedAddr), "kafka-advertised-addr",
		`host:port Kafka clients are told to connect to ("": the Kafka listener's address)`)
	flags.Var(int32Value{&c.KafkaMaxRequestBytes, MinKafkaMaxRequestBytes, math.MaxInt32, "bytes"}, "kafka-max-request-bytes",
		"largest Kafka request accepted, in bytes; a larger one closes its connection")
	flags.DurationVar(&c.KafkaIdleTimeout, "kafka-idle-timeout", c.KafkaIdleTimeout,
		"close a Kafka connection that sends no complete request for this long while none of its requests is served")
	flags.BoolVar(&c.KafkaAutoCreateTopics, "kafka-auto-create-topics", c.KafkaAutoCreateTopics,
		"let Kafka Metadata requests create the topics they name")
	flags.Var(int32Value{&c.KafkaDefaultPartitions, 1, MaxKafkaDefaultPartitions, "count"}, "kafka-default-partitions",
		"partitions of auto-created Kafka topics and of topics created with -1")
	flags.Var((*addrValue)(&c.AMQPAddr), "amqp-addr",
		`AMQP 0-9-1 listener address ("" disables it)`)
	flags.Var((*addrValue)(&c.HTTPAddr), "http-addr",
		`HTTP listener address, serving /healthz and /readyz ("" disables it)`)
	flags.DurationVar(&c.ConsumerTimeout, "consumer-timeout", c.ConsumerTimeout,
		"how long an AMQP delivery may stay unacked before its consumer is cancelled and the message requeued (0 disables)")
	flags.BoolVar(&c.Pprof, "pprof", c.Pprof,
		"also serve Go's runtime profiles under /debug/pprof/ on the HTTP listener (diagnosis only)")
	flags.Var((*fsyncValue)(&c.Fsync), "fsync",
		"when appends are made durable: always, interval:<duration> (e.g. interval:100ms) or never")
	flags.Var(sizeValue{&c.DiskFreeLimit}, "disk-free-limit",
		"free space on the data directory's file system below which publishers are blocked:"+
			" bytes or a size such as 50MB or 2GiB (0 disables the disk alarm)")
	flags.Var(newWatermarkValue(&c.MemoryHighWatermark), "memory-high-watermark",
		"memory the server may hold before publishers are blocked: a fraction of physical memory"+
			" such as 0.4, or a size with a unit such as 2GiB (0 disables the memory alarm)")
	flags.Var(choiceValue{&c.LogLevel, LogLevels, "level"}, "log-level",
		"log level: "+strings.Join(LogLevels, ", "))
	flags.Var(choiceValue{&c.LogFormat, LogFormats, "format"}, "log-format",
		"log format: "+strings.Join(LogFormats, ", "))
}

// Loader fills a Config from flags, environment and config file.
type Loader struct {
	flags *pflag.FlagSet
	cfg   *Config
	names []string // the settings' flag names, in definition order
	path  string   // --config
	file  string   // the file Load read, if any
}

// Register defines a flag for every setting, plus --config, on flags and
// returns the Loader that resolves them once flags are parsed.
func Register(flags *pflag.FlagSet) *Loader {
	l := &Loader{flags: flags, cfg: new(Config)}
	*l.cfg = Default()
	own := pflag.NewFlagSet("", pflag.ContinueOnError)
	own.SortFlags = false
	define(own, l.cfg)
	own.VisitAll(func(f *pflag.Flag) {
		l.names = append(l.names, f.Name)
		f.Usage += " [$" + EnvName(f.Name) + "]"
		flags.AddFlag(f)
	})
	flags.StringVar(&l.path, ConfigFlag, "",
		"optional YAML `file` of settings, keyed by flag name [$"+EnvName(ConfigFlag)+"]")
	return l
}

// EnvName is the environment variable of the flag name: "data-dir" is
// LOFT_DATA_DIR.
func EnvName(flag string) string {
	return "LOFT_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// Names returns the flag names of every setting (without --config).
func (l *Loader) Names() []string { return append([]string(nil), l.names...) }

// File returns the config file the last Load read, or "" if none.
func (l *Loader) File() string { return l.file }

// Load applies the config file and then the environment, looked up with
// lookupEnv (os.LookupEnv in production), to every setting not given on
// the command line, and returns the validated result. A variable that is
// set but empty counts as set: LOFT_KAFKA_ADDR= disables that listener.
//
// A value shadowed by a higher source is still parsed, against a scratch
// copy of the settings, so a mistake in the file is reported now rather
// than the day the flag or variable hiding it is removed.
func (l *Loader) Load(lookupEnv func(string) (string, bool)) (Config, error) {
	scratch := pflag.NewFlagSet("", pflag.ContinueOnError)
	define(scratch, new(Config))
	set := func(name, value string) error {
		f := l.flags.Lookup(name)
		if f.Changed {
			f = scratch.Lookup(name)
		}
		return f.Value.Set(value)
	}

	l.file = l.path
	if !l.flags.Changed(ConfigFlag) {
		l.file, _ = lookupEnv(EnvName(ConfigFlag))
	}
	if l.file != "" {
		if err := l.loadFile(l.file, set); err != nil {
			return Config{}, err
		}
	}
	for _, name := range l.names {
		v, ok := lookupEnv(EnvName(name))
		if !ok {
			continue
		}
		if err := set(name, v); err != nil {
			return Config{}, fmt.Errorf("config: environment %s=%q: %w", EnvName(name), v, err)
		}
	}
	if err := l.cfg.Validate(); err != nil {
		return Config{}, err
	}
	return *l.cfg, nil
}

// loadFile applies a flat YAML map whose keys are flag names. Every value
// must be a scalar; YAML null (an empty value) is the empty string.
func (l *Loader) loadFile(path string, set func(name, value string) error) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return fmt.Errorf("%w %s: %w", ErrFile, path, err)
	}
	if doc.Kind == 0 { // empty file
		return nil
	}
	m := doc.Content[0]
	if doc.Kind != yaml.DocumentNode || m.Kind != yaml.MappingNode {
		return fmt.Errorf("%w %s: want a flat map of setting: value", ErrFile, path)
	}
	seen := make(map[string]bool)
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		at := fmt.Sprintf("%s:%d", path, k.Line)
		switch {
		case k.Kind != yaml.ScalarNode:
			return fmt.Errorf("%w %s: keys must be setting names", ErrFile, at)
		case k.Value == ConfigFlag:
			return fmt.Errorf("%w %s: %q cannot be set in a config file", ErrFile, at, k.Value)
		case !l.known(k.Value):
			return fmt.Errorf("%w %s: unknown key %q (known: %s)", ErrFile, at, k.Value, strings.Join(l.names, ", "))
		case seen[k.Value]:
			return fmt.Errorf("%w %s: key %q repeated", ErrFile, at, k.Value)
		case v.Kind != yaml.ScalarNode:
			return fmt.Errorf("%w %s: %s: want a single value, not a list or map", ErrFile, at, k.Value)
		}
		seen[k.Value] = true
		value := v.Value
		if v.Tag == "!!null" {
			value = ""
		}
		if err := set(k.Value, value); err != nil {
			return fmt.Errorf("%w %s: %s: %w", ErrFile, at, k.Value, err)
		}
	}
	return nil
}

func (l *Loader) known(name string) bool {
	for _, n := range l.names {
		if n == name {
			return true
		}
	}
	return false
}
