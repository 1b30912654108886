package kafka

import (
	"fmt"

	"github.com/loftmq/loft/internal/broker"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// configTypes gives DescribeConfigs (v3+) the type of each topic config;
// a config not listed reports STRING.
var configTypes = map[string]kmsg.ConfigType{
	broker.CleanupPolicy:        kmsg.ConfigTypeList,
	broker.DeleteRetentionMs:    kmsg.ConfigTypeLong,
	broker.MaxMessageBytes:      kmsg.ConfigTypeInt,
	broker.MessageTimestampType: kmsg.ConfigTypeString,
	broker.MinCompactionLagMs:   kmsg.ConfigTypeLong,
	broker.RetentionBytes:       kmsg.ConfigTypeLong,
	broker.RetentionMs:          kmsg.ConfigTypeLong,
	broker.SegmentBytes:         kmsg.ConfigTypeInt,
	broker.SegmentMs:            kmsg.ConfigTypeLong,
}

// configResource is one resource of a config request, checked: a topic
// (name set) or this broker (name empty).
type configResource struct {
	topic  string
	broker bool
}

// resolveResource checks a config request's resource: a topic, or this
// broker by its id ("0") or by "" (the cluster-wide default). Other types
// (broker loggers, client metrics, groups) are not served.
func resolveResource(typ kmsg.ConfigResourceType, name string) (configResource, *kerr.Error, error) {
	switch typ {
	case kmsg.ConfigResourceTypeTopic:
		return configResource{topic: name}, nil, nil
	case kmsg.ConfigResourceTypeBroker:
		if name != "" && name != "0" {
			return configResource{}, kerr.InvalidRequest, fmt.Errorf("broker %q: this is broker 0", name)
		}
		return configResource{broker: true}, nil, nil
	}
	return configResource{}, kerr.InvalidRequest, fmt.Errorf("config resource type %v is not supported: only topics and the broker", typ)
}

// duplicateResources counts each resource of an alter request, so that
// one named twice can be refused, as Kafka does.
func duplicateResources[T any](resources []T, key func(T) string) map[string]int {
	n := make(map[string]int, len(resources))
	for _, r := range resources {
		n[key(r)]++
	}
	return n
}

// errBrokerReadOnly refuses changes to broker configs: they come from the
// command line.
var errBrokerReadOnly = fmt.Errorf("broker configs are read-only: set them on Loft's command line")
