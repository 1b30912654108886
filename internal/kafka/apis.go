package kafka

import (
	"github.com/twmb/franz-go/pkg/kmsg"
)

// api is one served Kafka API: its key, the version range served and its
// handler. A handler returns the response, or nil with no response to send
// (acks=0 Produce), or calls r.later and completes the slot itself.
type api struct {
	key      kmsg.Key
	min, max int16
	serve    func(s *Server, r *request) kmsg.Response
}

func (a api) name() string { return a.key.Name() }

// apis lists every API served: the one table ApiVersions answers from and
// requests are dispatched by. Minimum versions are as low as the handlers
// can honour, so that old clients (kafkajs, sarama with an old configured
// version) work; Produce starts at v3 and Fetch at v4, the first versions
// of the RecordBatch v2 format that is stored. Maximum versions are the
// highest kmsg knows whose every field is honoured. Each file's opening
// comment says what its versions mean. It is filled by init because
// ApiVersions' handler reads it.
var apis []api

// apiByKey indexes apis by key.
var apiByKey map[int16]api

func init() {
	apis = []api{
		{kmsg.Produce, 3, 13, (*Server).handleProduce},
		{kmsg.Fetch, 4, 18, (*Server).handleFetch},
		{kmsg.ListOffsets, 0, 10, (*Server).handleListOffsets},
		{kmsg.Metadata, 0, 13, (*Server).handleMetadata},
		{kmsg.OffsetCommit, 0, 10, (*Server).handleOffsetCommit},
		{kmsg.OffsetFetch, 0, 10, (*Server).handleOffsetFetch},
		{kmsg.FindCoordinator, 0, 6, (*Server).handleFindCoordinator},
		{kmsg.JoinGroup, 0, 9, (*Server).handleJoinGroup},
		{kmsg.Heartbeat, 0, 4, (*Server).handleHeartbeat},
		{kmsg.LeaveGroup, 0, 5, (*Server).handleLeaveGroup},
		{kmsg.SyncGroup, 0, 5, (*Server).handleSyncGroup},
		{kmsg.DescribeGroups, 0, 6, (*Server).handleDescribeGroups},
		{kmsg.ListGroups, 0, 5, (*Server).handleListGroups},
		{kmsg.ApiVersions, 0, 5, (*Server).handleApiVersions},
		{kmsg.CreateTopics, 0, 7, (*Server).handleCreateTopics},
		{kmsg.DeleteTopics, 0, 6, (*Server).handleDeleteTopics},
		{kmsg.DeleteRecords, 0, 2, (*Server).handleDeleteRecords},
		{kmsg.InitProducerID, 0, 5, (*Server).handleInitProducerID},
		{kmsg.DescribeConfigs, 0, 4, (*Server).handleDescribeConfigs},
		{kmsg.AlterConfigs, 0, 2, (*Server).handleAlterConfigs},
		{kmsg.CreatePartitions, 0, 3, (*Server).handleCreatePartitions},
		{kmsg.DeleteGroups, 0, 3, (*Server).handleDeleteGroups},
		{kmsg.IncrementalAlterConfigs, 0, 1, (*Server).handleIncrementalAlterConfigs},
		{kmsg.OffsetDelete, 0, 0, (*Server).handleOffsetDelete},
		{kmsg.DescribeCluster, 0, 2, (*Server).handleDescribeCluster},
	}
	apiByKey = make(map[int16]api, len(apis))
	for _, a := range apis {
		apiByKey[int16(a.key)] = a
	}
}

func lookupAPI(key int16) (api, bool) {
	a, ok := apiByKey[key]
	return a, ok
}

// dispatch runs r's handler and, unless the handler answers later,
// completes r's slot with its response.
func (s *Server) dispatch(r *request) {
	var resp kmsg.Response
	if r.badVersion {
		resp = s.apiVersionsTooNew(r)
	} else {
		resp = apiByKey[r.key].serve(s, r)
	}
	if !r.deferred {
		r.sl.finish(resp)
	}
}
