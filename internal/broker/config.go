package broker

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/loftmq/loft/internal/logstore"
)

// Topic config names, as Kafka spells them.
const (
	CleanupPolicy        = "cleanup.policy"
	DeleteRetentionMs    = "delete.retention.ms"
	MaxMessageBytes      = "max.message.bytes"
	MessageTimestampType = "message.timestamp.type"
	MinCompactionLagMs   = "min.compaction.lag.ms"
	RetentionBytes       = "retention.bytes"
	RetentionMs          = "retention.ms"
	SegmentBytes         = "segment.bytes"
	SegmentMs            = "segment.ms"
)

// Values of message.timestamp.type and cleanup.policy.
const (
	CreateTime    = "CreateTime"
	LogAppendTime = "LogAppendTime"
	PolicyDelete  = "delete"
	PolicyCompact = "compact"
)

// configDef describes one supported topic config: its Kafka default and
// how a value is checked. Values are kept as strings, as set; the parsed
// form is derived by topicConfig.
type configDef struct {
	name  string
	def   string
	list  bool // a list config: ConfigAppend and ConfigSubtract apply
	check func(v string) error
}

// configDefs lists the topic configs Loft honours, sorted by name. Defaults
// are Kafka's.
var configDefs = []configDef{
	{name: CleanupPolicy, def: PolicyDelete, list: true, check: checkCleanupPolicy},
	{name: DeleteRetentionMs, def: "86400000", check: longAtLeast(0)},
	{name: MaxMessageBytes, def: "1048588", check: intAtLeast(0)},
	{name: MessageTimestampType, def: CreateTime, check: oneOf(CreateTime, LogAppendTime)},
	{name: MinCompactionLagMs, def: "0", check: longAtLeast(0)},
	{name: RetentionBytes, def: "-1", check: longAtLeast(math.MinInt64)},
	{name: RetentionMs, def: "604800000", check: longAtLeast(-1)},
	{name: SegmentBytes, def: "1073741824", check: checkSegmentBytes},
	{name: SegmentMs, def: "604800000", check: longAtLeast(1)},
}

func lookupConfig(name string) (configDef, bool) {
	i, ok := slices.BinarySearchFunc(configDefs, name, func(d configDef, n string) int { return strings.Compare(d.name, n) })
	if !ok {
		return configDef{}, false
	}
	return configDefs[i], true
}

func parseLong(v string) (int64, error) {
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a number", v)
	}
	return n, nil
}

func longAtLeast(lo int64) func(string) error {
	return func(v string) error {
		n, err := parseLong(v)
		if err != nil {
			return err
		}
		if n < lo {
			return fmt.Errorf("%d is below the minimum %d", n, lo)
		}
		return nil
	}
}

func intAtLeast(lo int64) func(string) error {
	return func(v string) error {
		n, err := parseLong(v)
		if err != nil {
			return err
		}
		if n < lo {
			return fmt.Errorf("%d is below the minimum %d", n, lo)
		}
		if n > math.MaxInt32 {
			return fmt.Errorf("%d is above the maximum %d", n, math.MaxInt32)
		}
		return nil
	}
}

// checkSegmentBytes explains Loft's floor, which differs from Kafka's.
func checkSegmentBytes(v string) error {
	if err := intAtLeast(1024)(v); err != nil {
		return fmt.Errorf("%v (Loft's log engine needs segments of at least 1024 bytes; Kafka's minimum of 14 does not apply)", err)
	}
	return nil
}

func oneOf(vals ...string) func(string) error {
	return func(v string) error {
		if slices.Contains(vals, v) {
			return nil
		}
		return fmt.Errorf("%q is not one of %s", v, strings.Join(vals, ", "))
	}
}

// splitList splits a list config value ("compact,delete") into its trimmed,
// non-empty items.
func splitList(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

func checkCleanupPolicy(v string) error {
	items := splitList(v)
	if len(items) == 0 {
		// Kafka 4 allows an empty policy (keep forever); the log engine
		// needs one of the two.
		return fmt.Errorf("must be delete, compact or both")
	}
	for _, s := range items {
		if s != PolicyDelete && s != PolicyCompact {
			return fmt.Errorf("%q is not delete or compact", s)
		}
	}
	return nil
}

// checkConfigs validates a full set of topic configs.
func checkConfigs(set map[string]string) error {
	for k, v := range set {
		d, ok := lookupConfig(k)
		if !ok {
			return fmt.Errorf("%w: unknown topic config %q", ErrInvalidConfig, k)
		}
		if err := d.check(v); err != nil {
			return fmt.Errorf("%w: %s: %v", ErrInvalidConfig, k, err)
		}
	}
	return nil
}

// topicConfig is the effective configuration of a topic: what is set on
// it and what that means for Produce and for the logs. It is immutable;
// a change makes a new one.
type topicConfig struct {
	set map[string]string // configs set on the topic; the rest are defaults

	maxMessageBytes int
	logAppendTime   bool
	compact         bool
	log             logstore.Config
}

// newTopicConfig derives the effective configuration from checked configs.
func newTopicConfig(set map[string]string) *topicConfig {
	c := &topicConfig{set: set}
	get := func(name string) string {
		if v, ok := set[name]; ok {
			return v
		}
		d, _ := lookupConfig(name)
		return d.def
	}
	long := func(name string) int64 {
		n, _ := parseLong(get(name))
		return n
	}
	ms := func(name string) time.Duration {
		n := long(name)
		if n < 0 {
			return -1
		}
		if n > math.MaxInt64/int64(time.Millisecond) {
			return math.MaxInt64 // "forever" spelled as a large number
		}
		return time.Duration(n) * time.Millisecond
	}
	c.maxMessageBytes = int(long(MaxMessageBytes))
	c.logAppendTime = get(MessageTimestampType) == LogAppendTime
	policy := splitList(get(CleanupPolicy))
	c.compact = slices.Contains(policy, PolicyCompact)

	c.log = logstore.DefaultConfig()
	c.log.SegmentBytes = long(SegmentBytes)
	c.log.SegmentAge = ms(SegmentMs)
	c.log.RetentionAge = ms(RetentionMs)
	c.log.RetentionBytes = long(RetentionBytes)
	c.log.Compact = c.compact
	c.log.Delete = slices.Contains(policy, PolicyDelete)
	c.log.DeleteRetention = ms(DeleteRetentionMs)
	c.log.MinCompactionLag = ms(MinCompactionLagMs)
	return c
}

// entries reports every supported config, defaults included.
func (c *topicConfig) entries() []ConfigEntry {
	out := make([]ConfigEntry, 0, len(configDefs))
	for _, d := range configDefs {
		v, set := c.set[d.name]
		if !set {
			v = d.def
		}
		out = append(out, ConfigEntry{Name: d.name, Value: v, Default: !set})
	}
	return out
}

// ConfigEntry is one config and its value, as DescribeConfigs reports it.
type ConfigEntry struct {
	Name, Value string
	Default     bool // not set on the topic: the value is the default
	ReadOnly    bool
	Sensitive   bool
}

// ConfigOpType is the operation of an incremental config change.
type ConfigOpType int8

// The operations of IncrementalAlterConfigs, with Kafka's numbering.
const (
	ConfigSet      ConfigOpType = 0 // set the value
	ConfigDelete   ConfigOpType = 1 // back to the default
	ConfigAppend   ConfigOpType = 2 // add to a list config (cleanup.policy)
	ConfigSubtract ConfigOpType = 3 // remove from a list config
)

// ConfigOp is one incremental config change.
type ConfigOp struct {
	Name  string
	Value string
	Op    ConfigOpType
}

// applyOps returns the configs set after ops, checked.
func applyOps(set map[string]string, ops []ConfigOp) (map[string]string, error) {
	out := make(map[string]string, len(set)+len(ops))
	for k, v := range set {
		out[k] = v
	}
	for _, op := range ops {
		d, ok := lookupConfig(op.Name)
		if !ok {
			return nil, fmt.Errorf("%w: unknown topic config %q", ErrInvalidConfig, op.Name)
		}
		switch op.Op {
		case ConfigSet:
			out[op.Name] = op.Value
		case ConfigDelete:
			delete(out, op.Name)
		case ConfigAppend, ConfigSubtract:
			if !d.list {
				return nil, fmt.Errorf("%w: %s is not a list config: append and subtract do not apply", ErrInvalidConfig, op.Name)
			}
			cur, ok := out[op.Name]
			if !ok {
				cur = d.def
			}
			items := splitList(cur)
			for _, it := range splitList(op.Value) {
				has := slices.Contains(items, it)
				if op.Op == ConfigAppend && !has {
					items = append(items, it)
				} else if op.Op == ConfigSubtract && has {
					items = slices.DeleteFunc(items, func(s string) bool { return s == it })
				}
			}
			out[op.Name] = strings.Join(items, ",")
		default:
			return nil, fmt.Errorf("%w: unknown config operation %d", ErrInvalidConfig, op.Op)
		}
	}
	if err := checkConfigs(out); err != nil {
		return nil, err
	}
	return out, nil
}

// BrokerConfigs reports the broker's configs. They are all read-only: the
// values are fixed by Loft's command line, or by being a single node.
func (b *Broker) BrokerConfigs() []ConfigEntry {
	def := logstore.DefaultConfig()
	ent := func(name, value string, isDefault bool) ConfigEntry {
		return ConfigEntry{Name: name, Value: value, Default: isDefault, ReadOnly: true}
	}
	return []ConfigEntry{
		ent("auto.create.topics.enable", strconv.FormatBool(b.opts.AutoCreateTopics), b.opts.AutoCreateTopics),
		ent("broker.id", "0", false),
		ent("default.replication.factor", "1", true),
		ent("log.cleanup.policy", PolicyDelete, true),
		ent("log.message.timestamp.type", CreateTime, true),
		ent("log.retention.bytes", strconv.FormatInt(def.RetentionBytes, 10), true),
		ent("log.retention.ms", strconv.FormatInt(def.RetentionAge.Milliseconds(), 10), true),
		ent("log.roll.ms", strconv.FormatInt(def.SegmentAge.Milliseconds(), 10), true),
		ent("log.segment.bytes", strconv.FormatInt(def.SegmentBytes, 10), true),
		ent("message.max.bytes", "1048588", true),
		ent("min.insync.replicas", "1", true),
		ent("num.partitions", strconv.Itoa(int(b.opts.DefaultPartitions)), b.opts.DefaultPartitions == 1),
	}
}
