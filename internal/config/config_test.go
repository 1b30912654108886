package config

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/loftmq/loft/internal/logstore"
)

func TestDefaultIsValid(t *testing.T) {
	if err := Default().Validate(); err != nil {
		t.Fatalf("Default().Validate() = %v", err)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name    string
		edit    func(*Config)
		wantErr string // "" means valid
	}{
		{"empty addresses disable listeners", func(c *Config) { c.KafkaAddr, c.AMQPAddr, c.HTTPAddr = "", "", "" }, ""},
		{"all interfaces", func(c *Config) { c.KafkaAddr = ":9092" }, ""},
		{"ipv6", func(c *Config) { c.HTTPAddr = "[::1]:8080" }, ""},
		{"port zero picks a free port", func(c *Config) { c.AMQPAddr = "127.0.0.1:0" }, ""},
		{"interval fsync", func(c *Config) { c.Fsync = logstore.FsyncPolicy{Mode: logstore.FsyncInterval, Interval: time.Second} }, ""},
		{"never fsync", func(c *Config) { c.Fsync = logstore.FsyncPolicy{Mode: logstore.FsyncNever} }, ""},
		{"debug json", func(c *Config) { c.LogLevel, c.LogFormat = "debug", "json" }, ""},
		{"advertised", func(c *Config) { c.KafkaAdvertisedAddr = "loft.example:9092" }, ""},
		{"kafka bounds", func(c *Config) { c.KafkaMaxRequestBytes, c.KafkaDefaultPartitions = 1024, 10000 }, ""},
		{"alarms disabled", func(c *Config) { c.DiskFreeLimit, c.MemoryHighWatermark = 0, 0 }, ""},

		{"empty data dir", func(c *Config) { c.DataDir = "" }, "data-dir must not be empty"},
		{"addr without port", func(c *Config) { c.KafkaAddr = "localhost" }, `kafka-addr: "localhost": want host:port`},
		{"bare ipv6", func(c *Config) { c.HTTPAddr = "::1" }, `http-addr: "::1": want host:port`},
		{"named port", func(c *Config) { c.AMQPAddr = "127.0.0.1:amqp" }, `amqp-addr: "127.0.0.1:amqp": port "amqp" must be a number`},
		{"port out of range", func(c *Config) { c.HTTPAddr = "127.0.0.1:65536" }, `port "65536" must be a number from 0 to 65535`},
		{"zero interval", func(c *Config) { c.Fsync = logstore.FsyncPolicy{Mode: logstore.FsyncInterval} }, "fsync: interval 0s must be positive"},
		{"unknown fsync mode", func(c *Config) { c.Fsync.Mode = 42 }, "fsync: unknown mode 42"},
		{"bad level", func(c *Config) { c.LogLevel = "verbose" }, `log-level: "verbose": want one of debug, info, warn, error`},
		{"upper-case level", func(c *Config) { c.LogLevel = "INFO" }, `log-level: "INFO"`},
		{"bad format", func(c *Config) { c.LogFormat = "xml" }, `log-format: "xml": want one of text, json`},
		{"advertised without host", func(c *Config) { c.KafkaAdvertisedAddr = ":9092" }, "kafka-advertised-addr"},
		{"advertised bad", func(c *Config) { c.KafkaAdvertisedAddr = "nohost" }, `kafka-advertised-addr: "nohost": want host:port`},
		{"request bound zero", func(c *Config) { c.KafkaMaxRequestBytes = 0 }, "kafka-max-request-bytes: 0 is not in"},
		{"partitions zero", func(c *Config) { c.KafkaDefaultPartitions = 0 }, "kafka-default-partitions: 0 is not in"},
		{"idle timeout too short", func(c *Config) { c.KafkaIdleTimeout = 500 * time.Millisecond }, "kafka-idle-timeout 500ms: must be at least 1s"},
		{"negative disk limit", func(c *Config) { c.DiskFreeLimit = -1 }, "disk-free-limit: -1 bytes is negative"},
		{"negative watermark", func(c *Config) { c.MemoryHighWatermark = -5 }, "memory-high-watermark: -5 bytes is negative"},
		{"partitions too many", func(c *Config) { c.KafkaDefaultPartitions = 10001 }, "kafka-default-partitions: 10001 is not in"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			tt.edit(&c)
			err := c.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate() = nil, want error containing %q", tt.wantErr)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("Validate() = %v, want it to wrap ErrInvalid", err)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Validate() = %q, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	c := Default()
	c.DataDir, c.LogLevel = "", "loud"
	err := c.Validate()
	if err == nil || !strings.Contains(err.Error(), "data-dir") || !strings.Contains(err.Error(), "log-level") {
		t.Fatalf("Validate() = %v, want both data-dir and log-level reported", err)
	}
}

func TestDefaultAlarms(t *testing.T) {
	c := Default()
	if c.DiskFreeLimit != 50_000_000 {
		t.Errorf("DiskFreeLimit = %d, want RabbitMQ's 50MB", c.DiskFreeLimit)
	}
	total, err := totalMemory()
	want := int64(0.4 * float64(total))
	if err != nil {
		want = 0
	}
	if c.MemoryHighWatermark != want {
		t.Errorf("MemoryHighWatermark = %d, want 0.4 of %d (%v) = %d", c.MemoryHighWatermark, total, err, want)
	}
}
