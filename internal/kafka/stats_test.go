package kafka

import (
	"maps"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestCountResponseErrors counts the error codes of responses of several
// shapes: per partition (Produce, Fetch), per topic and partition
// (Metadata), top-level (JoinGroup), and none.
func TestCountResponseErrors(t *testing.T) {
	produce := kmsg.NewPtrProduceResponse()
	produce.Topics = []kmsg.ProduceResponseTopic{{Partitions: []kmsg.ProduceResponseTopicPartition{
		{ErrorCode: kerr.NotLeaderForPartition.Code}, {}, {ErrorCode: kerr.NotLeaderForPartition.Code},
	}}}
	fetch := kmsg.NewPtrFetchResponse()
	fetch.Topics = []kmsg.FetchResponseTopic{{Partitions: []kmsg.FetchResponseTopicPartition{
		{ErrorCode: kerr.OffsetOutOfRange.Code},
	}}}
	md := kmsg.NewPtrMetadataResponse()
	md.Topics = []kmsg.MetadataResponseTopic{
		{ErrorCode: kerr.UnknownTopicOrPartition.Code},
		{Partitions: []kmsg.MetadataResponseTopicPartition{{ErrorCode: kerr.LeaderNotAvailable.Code}, {}}},
	}
	join := kmsg.NewPtrJoinGroupResponse()
	join.ErrorCode = kerr.UnknownMemberID.Code
	ok := kmsg.NewPtrApiVersionsResponse()
	ok.ApiKeys = []kmsg.ApiVersionsResponseApiKey{{ApiKey: 0}}

	var c counters
	for _, r := range []kmsg.Response{produce, fetch, md, join, ok, md} {
		c.response(r)
	}
	got := map[string]uint64{}
	for i := range c.errs {
		if n := c.errs[i].Load(); n > 0 {
			got[errorName(int16(i-1))] = n
		}
	}
	want := map[string]uint64{
		"NOT_LEADER_FOR_PARTITION":   2,
		"OFFSET_OUT_OF_RANGE":        1,
		"UNKNOWN_TOPIC_OR_PARTITION": 2,
		"LEADER_NOT_AVAILABLE":       2,
		"UNKNOWN_MEMBER_ID":          1,
	}
	if !maps.Equal(got, want) {
		t.Fatalf("counted %v, want %v", got, want)
	}
	if name := errorName(-1); name != "UNKNOWN_SERVER_ERROR" {
		t.Errorf("errorName(-1) = %s", name)
	}
}
