package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/loftmq/loft/internal/logstore"
	"github.com/spf13/pflag"
)

// load runs the whole resolution as `loft serve` does: register, parse
// args, Load with env as the environment. A non-empty file is written to a
// temporary loft.yaml, selected by LOFT_CONFIG unless env or args choose.
func load(t *testing.T, file string, env map[string]string, args ...string) (Config, error) {
	t.Helper()
	flags := pflag.NewFlagSet("test", pflag.ContinueOnError)
	l := Register(flags)
	if err := flags.Parse(args); err != nil {
		return Config{}, err
	}
	if file != "" {
		path := writeFile(t, "loft.yaml", file)
		if _, ok := env["LOFT_CONFIG"]; !ok {
			env = with(env, "LOFT_CONFIG", path)
		}
	}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	return l.Load(lookup)
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func with(env map[string]string, k, v string) map[string]string {
	out := map[string]string{k: v}
	for k, v := range env {
		out[k] = v
	}
	return out
}

func TestPrecedence(t *testing.T) {
	tests := []struct {
		name string
		file string
		env  map[string]string
		args []string
		want func(*Config)
	}{
		{name: "defaults", want: func(*Config) {}},
		{
			name: "file over default",
			file: "data-dir: /from/file\n",
			want: func(c *Config) { c.DataDir = "/from/file" },
		},
		{
			name: "env over file",
			file: "data-dir: /from/file\n",
			env:  map[string]string{"LOFT_DATA_DIR": "/from/env"},
			want: func(c *Config) { c.DataDir = "/from/env" },
		},
		{
			name: "flag over env and file",
			file: "data-dir: /from/file\n",
			env:  map[string]string{"LOFT_DATA_DIR": "/from/env"},
			args: []string{"--data-dir", "/from/flag"},
			want: func(c *Config) { c.DataDir = "/from/flag" },
		},
		{
			name: "flag over file",
			file: "fsync: never\n",
			args: []string{"--fsync=interval:1s"},
			want: func(c *Config) { c.Fsync = logstore.FsyncPolicy{Mode: logstore.FsyncInterval, Interval: time.Second} },
		},
		{
			name: "each setting resolved on its own",
			file: "data-dir: /from/file\nlog-format: json\n",
			env:  map[string]string{"LOFT_FSYNC": "never", "LOFT_LOG_FORMAT": "text"},
			args: []string{"--log-level=debug"},
			want: func(c *Config) {
				c.DataDir = "/from/file"
				c.Fsync = logstore.FsyncPolicy{Mode: logstore.FsyncNever}
				c.LogLevel = "debug"
			},
		},
		{
			name: "empty env variable disables a listener",
			env:  map[string]string{"LOFT_KAFKA_ADDR": ""},
			want: func(c *Config) { c.KafkaAddr = "" },
		},
		{
			name: "empty file value disables a listener",
			file: "amqp-addr:\nhttp-addr: \"\"\n",
			want: func(c *Config) { c.AMQPAddr, c.HTTPAddr = "", "" },
		},
		{
			name: "empty flag disables a listener",
			file: "http-addr: 127.0.0.1:1\n",
			args: []string{"--http-addr", ""},
			want: func(c *Config) { c.HTTPAddr = "" },
		},
		{
			name: "comments and blank lines",
			file: "# Loft\n\nkafka-addr: 0.0.0.0:19092 # all interfaces\n",
			want: func(c *Config) { c.KafkaAddr = "0.0.0.0:19092" },
		},
		{name: "empty file", file: "\n# nothing\n", want: func(*Config) {}},
		{
			name: "kafka settings",
			file: "kafka-advertised-addr: kafka.example:9092\nkafka-auto-create-topics: false\n",
			env:  map[string]string{"LOFT_KAFKA_DEFAULT_PARTITIONS": "3"},
			args: []string{"--kafka-max-request-bytes=2048"},
			want: func(c *Config) {
				c.KafkaAdvertisedAddr = "kafka.example:9092"
				c.KafkaAutoCreateTopics = false
				c.KafkaDefaultPartitions = 3
				c.KafkaMaxRequestBytes = 2048
			},
		},
		{
			name: "alarm limits",
			file: "disk-free-limit: 2GiB\nmemory-high-watermark: 1GB\n",
			env:  map[string]string{"LOFT_DISK_FREE_LIMIT": "500000000"},
			args: []string{"--memory-high-watermark=512MiB"},
			want: func(c *Config) {
				c.DiskFreeLimit = 500_000_000
				c.MemoryHighWatermark = 512 << 20
			},
		},
		{
			name: "zero disables the alarms",
			env:  map[string]string{"LOFT_DISK_FREE_LIMIT": "0", "LOFT_MEMORY_HIGH_WATERMARK": "0"},
			want: func(c *Config) { c.DiskFreeLimit, c.MemoryHighWatermark = 0, 0 },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := load(t, tt.file, tt.env, tt.args...)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			want := Default()
			tt.want(&want)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("Load:\n got %+v\nwant %+v", got, want)
			}
		})
	}
}

// TestEverySettingFromEverySource guards the derivation: a setting added to
// define is reachable by flag, environment and file with no other code.
func TestEverySettingFromEverySource(t *testing.T) {
	values := map[string]string{
		"data-dir":   "/var/lib/loft",
		"kafka-addr": "127.0.0.1:19092",

		"kafka-advertised-addr":    "broker.example:19092",
		"kafka-max-request-bytes":  "1048576",
		"kafka-idle-timeout":       "2m",
		"kafka-auto-create-topics": "false",
		"kafka-default-partitions": "6",
		"amqp-addr":                "127.0.0.1:15673",
		"http-addr":                "127.0.0.1:18080",
		"pprof":                    "true",
		"consumer-timeout":         "5m",
		"fsync":                    "interval:250ms",
		"disk-free-limit":          "1GB",
		"memory-high-watermark":    "2GiB",
		"log-level":                "warn",
		"log-format":               "json",
	}
	l := Register(pflag.NewFlagSet("", pflag.ContinueOnError))
	if got, want := len(l.Names()), len(values); got != want {
		t.Fatalf("%d settings registered (%v), test knows %d: add the new one here", got, l.Names(), want)
	}
	for _, name := range l.Names() {
		v, ok := values[name]
		if !ok {
			t.Fatalf("no test value for setting %q", name)
		}
		sources := map[string]func() (Config, error){
			"flag": func() (Config, error) { return load(t, "", nil, "--"+name+"="+v) },
			"env":  func() (Config, error) { return load(t, "", map[string]string{EnvName(name): v}) },
			"file": func() (Config, error) { return load(t, name+": "+v+"\n", nil) },
		}
		for src, get := range sources {
			got, err := get()
			if err != nil {
				t.Fatalf("%s from %s: %v", name, src, err)
			}
			if reflect.DeepEqual(got, Default()) {
				t.Errorf("%s=%s from %s left the defaults unchanged", name, v, src)
			}
		}
	}
}

func TestEnvName(t *testing.T) {
	tests := map[string]string{
		"data-dir":   "LOFT_DATA_DIR",
		"kafka-addr": "LOFT_KAFKA_ADDR",
		"http-addr":  "LOFT_HTTP_ADDR",
		"fsync":      "LOFT_FSYNC",
		"log-level":  "LOFT_LOG_LEVEL",
		"config":     "LOFT_CONFIG",
	}
	for flag, want := range tests {
		if got := EnvName(flag); got != want {
			t.Errorf("EnvName(%q) = %q, want %q", flag, got, want)
		}
	}
}

func TestUsageNamesEnvironmentVariable(t *testing.T) {
	flags := pflag.NewFlagSet("", pflag.ContinueOnError)
	Register(flags)
	for _, name := range []string{"data-dir", "fsync", ConfigFlag} {
		if u := flags.Lookup(name).Usage; !strings.Contains(u, "[$"+EnvName(name)+"]") {
			t.Errorf("usage of --%s = %q, want it to name %s", name, u, EnvName(name))
		}
	}
}

func TestConfigFileSelection(t *testing.T) {
	envFile := writeFile(t, "env.yaml", "data-dir: /env-file\n")
	flagFile := writeFile(t, "flag.yaml", "data-dir: /flag-file\n")
	env := map[string]string{"LOFT_CONFIG": envFile}

	got, err := load(t, "", env)
	if err != nil || got.DataDir != "/env-file" {
		t.Errorf("LOFT_CONFIG: DataDir = %q, %v; want /env-file", got.DataDir, err)
	}
	got, err = load(t, "", env, "--config", flagFile)
	if err != nil || got.DataDir != "/flag-file" {
		t.Errorf("--config over LOFT_CONFIG: DataDir = %q, %v; want /flag-file", got.DataDir, err)
	}
	_, err = load(t, "", nil, "--config", filepath.Join(t.TempDir(), "missing.yaml"))
	if err == nil || !strings.Contains(err.Error(), "missing.yaml") {
		t.Errorf("missing file: err = %v, want it to name the file", err)
	}
}

func TestBadValues(t *testing.T) {
	tests := []struct {
		name string
		file string
		env  map[string]string
		args []string
		want []string // substrings of the error
	}{
		{
			name: "bad fsync in file",
			file: "data-dir: /x\nfsync: sometimes\n",
			want: []string{"loft.yaml:2", "fsync", `"sometimes"`},
		},
		{
			name: "bad address in file",
			file: "http-addr: localhost\n",
			want: []string{"loft.yaml:1", "http-addr", "want host:port"},
		},
		{
			name: "bad level in file shadowed by a flag",
			file: "log-level: chatty\n",
			args: []string{"--log-level=info"},
			want: []string{"loft.yaml:1", "log-level", `"chatty"`},
		},
		{
			name: "bad env",
			env:  map[string]string{"LOFT_LOG_FORMAT": "xml"},
			want: []string{"LOFT_LOG_FORMAT", `"xml"`, "want one of text, json"},
		},
		{
			name: "bad env shadowed by a flag",
			env:  map[string]string{"LOFT_FSYNC": "interval:-1s"},
			args: []string{"--fsync=always"},
			want: []string{"LOFT_FSYNC", "interval:<positive duration>"},
		},
		{
			name: "bad flag",
			args: []string{"--kafka-addr=9092"},
			want: []string{"--kafka-addr", "want host:port"},
		},
		{
			name: "advertised address without host",
			args: []string{"--kafka-advertised-addr=:9092"},
			want: []string{"--kafka-advertised-addr", "give a host and a port other than 0"},
		},
		{
			name: "advertised port zero",
			env:  map[string]string{"LOFT_KAFKA_ADVERTISED_ADDR": "loft:0"},
			want: []string{"LOFT_KAFKA_ADVERTISED_ADDR", "port other than 0"},
		},
		{
			name: "request bound too small",
			file: "kafka-max-request-bytes: 100\n",
			want: []string{"loft.yaml:1", "kafka-max-request-bytes", "100 is not in [1024, 2147483647]"},
		},
		{
			name: "request bound not a number",
			args: []string{"--kafka-max-request-bytes=100MiB"},
			want: []string{"--kafka-max-request-bytes", `"100MiB" is not a whole number`},
		},
		{
			name: "zero default partitions",
			env:  map[string]string{"LOFT_KAFKA_DEFAULT_PARTITIONS": "0"},
			want: []string{"LOFT_KAFKA_DEFAULT_PARTITIONS", "0 is not in [1, 10000]"},
		},
		{
			name: "auto-create not a bool",
			env:  map[string]string{"LOFT_KAFKA_AUTO_CREATE_TOPICS": "maybe"},
			want: []string{"LOFT_KAFKA_AUTO_CREATE_TOPICS", "maybe"},
		},
		{
			name: "disk limit with a fraction",
			args: []string{"--disk-free-limit=1.5GB"},
			want: []string{"--disk-free-limit", `"1.5GB"`, "want a whole number of bytes"},
		},
		{
			name: "disk limit with an unknown unit",
			env:  map[string]string{"LOFT_DISK_FREE_LIMIT": "50XB"},
			want: []string{"LOFT_DISK_FREE_LIMIT", `"50XB"`, "KiB, MiB, GiB"},
		},
		{
			name: "disk limit negative in file",
			file: "disk-free-limit: -1\n",
			want: []string{"loft.yaml:1", "disk-free-limit", `"-1"`},
		},
		{
			name: "disk limit relative to memory is not supported",
			args: []string{"--disk-free-limit=mem_relative:1.0"},
			want: []string{"--disk-free-limit", `"mem_relative:1.0"`},
		},
		{
			name: "disk limit too large",
			args: []string{"--disk-free-limit=10000PB"},
			want: []string{"--disk-free-limit", `"10000PB" is too large`},
		},
		{
			name: "watermark fraction above one",
			args: []string{"--memory-high-watermark=1.5"},
			want: []string{"--memory-high-watermark", `"1.5"`, "must be in [0, 1]"},
		},
		{
			name: "watermark bytes without a unit",
			env:  map[string]string{"LOFT_MEMORY_HIGH_WATERMARK": "1073741824"},
			want: []string{"LOFT_MEMORY_HIGH_WATERMARK", "fraction of physical memory", "e.g. 1073741824B or 2GiB"},
		},
		{
			name: "watermark not a number",
			file: "memory-high-watermark: lots\n",
			want: []string{"loft.yaml:1", "memory-high-watermark", `"lots"`, "such as 0.4"},
		},
		{
			name: "empty data dir",
			env:  map[string]string{"LOFT_DATA_DIR": ""},
			want: []string{"data-dir must not be empty"},
		},
		{
			name: "unknown key",
			file: "data-dir: /x\ndta-dir: /y\n",
			want: []string{"loft.yaml:2", `unknown key "dta-dir"`, "known: data-dir, kafka-addr"},
		},
		{
			name: "config key in file",
			file: "config: other.yaml\n",
			want: []string{"loft.yaml:1", `"config" cannot be set`},
		},
		{
			name: "repeated key",
			file: "fsync: always\nfsync: never\n",
			want: []string{"loft.yaml:2", `"fsync" repeated`},
		},
		{
			name: "nested map",
			file: "kafka:\n  addr: 127.0.0.1:9092\n",
			want: []string{"loft.yaml:1", `unknown key "kafka"`},
		},
		{
			name: "list value",
			file: "data-dir: [a, b]\n",
			want: []string{"loft.yaml:1", "data-dir: want a single value"},
		},
		{
			name: "not a map",
			file: "- data-dir\n",
			want: []string{"loft.yaml", "want a flat map"},
		},
		{
			name: "yaml syntax",
			file: "data-dir: \"unterminated\n",
			want: []string{"loft.yaml", "yaml:"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := load(t, tt.file, tt.env, tt.args...)
			if err == nil {
				t.Fatalf("Load succeeded, want error containing %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if tt.file != "" && strings.Contains(tt.want[0], "loft.yaml") && !errors.Is(err, ErrFile) {
				t.Errorf("error %v does not wrap ErrFile", err)
			}
		})
	}
}

// TestMemoryWatermarkFraction resolves a fraction against this machine's
// memory, through every source.
func TestMemoryWatermarkFraction(t *testing.T) {
	total, err := totalMemory()
	if err != nil {
		t.Skipf("physical memory unknown here: %v", err)
	}
	want := int64(0.25 * float64(total))
	for src, get := range map[string]func() (Config, error){
		"flag": func() (Config, error) { return load(t, "", nil, "--memory-high-watermark=0.25") },
		"env":  func() (Config, error) { return load(t, "", map[string]string{"LOFT_MEMORY_HIGH_WATERMARK": "0.25"}) },
		"file": func() (Config, error) { return load(t, "memory-high-watermark: 0.25\n", nil) },
	} {
		got, err := get()
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		if got.MemoryHighWatermark != want {
			t.Errorf("%s: MemoryHighWatermark = %d, want 0.25 of %d = %d", src, got.MemoryHighWatermark, total, want)
		}
	}
}

func TestUsageShowsAlarmDefaults(t *testing.T) {
	if _, err := totalMemory(); err != nil {
		t.Skipf("physical memory unknown here, so the memory alarm is off by default: %v", err)
	}
	flags := pflag.NewFlagSet("", pflag.ContinueOnError)
	Register(flags)
	usage := flags.FlagUsages()
	for _, want := range []string{
		"--disk-free-limit size ",
		"(default 50MB)",
		"--memory-high-watermark fraction|size ",
		"(default 0.4)",
	} {
		if !strings.Contains(usage, want) {
			t.Errorf("usage lacks %q:\n%s", want, usage)
		}
	}
}
