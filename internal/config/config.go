package config

import (
	"errors"
	"fmt"
	"math"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

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
	// KafkaAdvertisedAddr is the host:port Kafka clients are told to
	// connect to (Metadata, FindCoordinator); empty means the address the
	// Kafka listener is bound to.
	KafkaAdvertisedAddr string
	// KafkaMaxRequestBytes bounds one Kafka request frame; a larger one
	// closes its connection.
	KafkaMaxRequestBytes int32
	// KafkaIdleTimeout closes a Kafka connection that sends no complete
	// request for this long while none of its requests is being served
	// (Kafka's connections.max.idle.ms).
	KafkaIdleTimeout time.Duration
	// KafkaAutoCreateTopics lets a Metadata request create the topics it
	// names (when the client allows it), with KafkaDefaultPartitions
	// partitions, which is also the count of topics created with -1.
	KafkaAutoCreateTopics  bool
	KafkaDefaultPartitions int32
	// ConsumerTimeout is how long an AMQP delivery may stay unacked before
	// its consumer is cancelled and the message requeued (RabbitMQ's
	// consumer_timeout); 0 disables. A queue's x-consumer-timeout wins.
	ConsumerTimeout time.Duration
	// Pprof mounts net/http/pprof's handlers on the HTTP listener.
	Pprof bool
	// Fsync says when an append counts as durable; see logstore.FsyncPolicy.
	Fsync logstore.FsyncPolicy
	// DiskFreeLimit is the free space, in bytes, on DataDir's file system
	// below which the disk alarm blocks publishers; 0 disables it.
	DiskFreeLimit int64
	// MemoryHighWatermark is the memory, in bytes, the process may hold
	// before the memory alarm blocks publishers; 0 disables it. Given as a
	// fraction, it has been resolved against physical memory.
	MemoryHighWatermark int64
	// LogLevel is one of LogLevels; LogFormat one of LogFormats.
	LogLevel  string
	LogFormat string
}

// The accepted values of Config.LogLevel and Config.LogFormat.
var (
	LogLevels  = []string{"debug", "info", "warn", "error"}
	LogFormats = []string{"text", "json"}
)

// Bounds of the Kafka settings. A request bound below MinKafkaMaxRequestBytes
// would refuse ordinary metadata requests; MaxKafkaDefaultPartitions is the
// broker's limit on a topic's partitions.
const (
	DefaultKafkaMaxRequestBytes = 100 << 20 // Kafka's socket.request.max.bytes
	MinKafkaMaxRequestBytes     = 1 << 10
	MaxKafkaDefaultPartitions   = 10000
)

// Defaults of the resource alarms, RabbitMQ's: disk_free_limit 50MB and
// vm_memory_high_watermark 0.4 of physical memory. Where physical memory
// is unknown (outside Linux), the default memory alarm is disabled.
const (
	DefaultDiskFreeLimit       = 50_000_000
	DefaultMemoryHighWatermark = "0.4"
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

		DiskFreeLimit:       DefaultDiskFreeLimit,
		MemoryHighWatermark: defaultMemoryHighWatermark(),

		ConsumerTimeout: 30 * time.Minute,

		KafkaMaxRequestBytes:   DefaultKafkaMaxRequestBytes,
		KafkaIdleTimeout:       10 * time.Minute,
		KafkaAutoCreateTopics:  true,
		KafkaDefaultPartitions: 1,
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
	if c.ConsumerTimeout < 0 {
		errs = append(errs, fmt.Errorf("consumer-timeout %v: must not be negative", c.ConsumerTimeout))
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
	if err := checkAdvertised(c.KafkaAdvertisedAddr); err != nil {
		errs = append(errs, fmt.Errorf("kafka-advertised-addr: %w", err))
	}
	if err := checkRange(int64(c.KafkaMaxRequestBytes), MinKafkaMaxRequestBytes, math.MaxInt32); err != nil {
		errs = append(errs, fmt.Errorf("kafka-max-request-bytes: %w", err))
	}
	if c.KafkaIdleTimeout < time.Second {
		errs = append(errs, fmt.Errorf("kafka-idle-timeout %v: must be at least 1s", c.KafkaIdleTimeout))
	}
	if err := checkRange(int64(c.KafkaDefaultPartitions), 1, MaxKafkaDefaultPartitions); err != nil {
		errs = append(errs, fmt.Errorf("kafka-default-partitions: %w", err))
	}
	if err := checkFsync(c.Fsync); err != nil {
		errs = append(errs, fmt.Errorf("fsync: %w", err))
	}
	for _, a := range []struct {
		name string
		n    int64
	}{
		{"disk-free-limit", c.DiskFreeLimit},
		{"memory-high-watermark", c.MemoryHighWatermark},
	} {
		if a.n < 0 {
			errs = append(errs, fmt.Errorf("%s: %d bytes is negative (0 disables the alarm)", a.name, a.n))
		}
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

// checkAdvertised accepts "" (the listener's own address) or a host:port
// a client can dial: a host and a non-zero port.
func checkAdvertised(addr string) error {
	if addr == "" {
		return nil
	}
	if err := checkAddr(addr); err != nil {
		return err
	}
	host, port, _ := net.SplitHostPort(addr)
	if host == "" || port == "0" {
		return fmt.Errorf("%q: clients must be able to dial it: give a host and a port other than 0", addr)
	}
	return nil
}

// checkRange checks lo <= n <= hi.
func checkRange(n, lo, hi int64) error {
	if n < lo || n > hi {
		return fmt.Errorf("%d is not in [%d, %d]", n, lo, hi)
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
