package kafka

import (
	"context"
	"encoding/binary"
	"testing"
	"time"

	"github.com/loftmq/loft/internal/broker"
	"github.com/loftmq/loft/internal/fs"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// fuzzWait bounds how long one fuzzed request may block: a JoinGroup or a
// Fetch long poll with a huge timeout is cut short by its context.
const fuzzWait = 200 * time.Millisecond

// FuzzRequest feeds arbitrary bytes, as the body of one frame, to request
// decoding and dispatch against a real broker stack (log store and
// metadata on an in-memory file system, broker core, group coordinator).
// Whatever the bytes, nothing may panic, every decoded request must be
// answered (or deliberately not: acks=0), and the answer must encode.
func FuzzRequest(f *testing.F) {
	for _, seed := range fuzzSeeds(f) {
		f.Add(seed)
	}
	s := startStack(f, stackOpts{fsys: fs.NewMem(), dir: "/fuzz", minSession: time.Millisecond})
	setup := context.Background()
	if _, err := s.b.CreateTopic(setup, broker.TopicSpec{Name: "fz", Partitions: 2}, false); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		r, err := decode(frame)
		if err != nil {
			return // the connection would be closed
		}
		ctx, cancel := context.WithTimeout(context.Background(), fuzzWait)
		defer cancel()
		r.ctx, r.clientHost = ctx, "127.0.0.1"
		r.sl = newSlot(r.corr)
		s.srv.dispatch(r)
		select {
		case <-r.sl.ready:
		case <-time.After(testTimeout):
			t.Fatalf("%s v%d: no response", kmsg.NameForKey(r.key), r.version)
		}
		if r.sl.resp == nil {
			if req, ok := r.kreq.(*kmsg.ProduceRequest); !ok || req.Acks != 0 {
				t.Fatalf("%s v%d: nil response", kmsg.NameForKey(r.key), r.version)
			}
			return
		}
		if r.sl.resp.Key() != r.key {
			t.Fatalf("request %d answered with key %d", r.key, r.sl.resp.Key())
		}
		out := appendResponse(nil, r.corr, r.sl.resp)
		if int(binary.BigEndian.Uint32(out)) != len(out)-4 {
			t.Fatal("bad response frame size")
		}
	})
}

// fuzzSeeds are valid requests of many APIs and versions, then damaged
// copies of a few: truncated, and with an array count far larger than the
// bytes that follow.
func fuzzSeeds(tb testing.TB) [][]byte {
	topic := "fz"
	var reqs []kmsg.Request
	add := func(r kmsg.Request, versions ...int16) {
		for _, v := range versions {
			r.SetVersion(v)
			reqs = append(reqs, cloneRequest(tb, r))
		}
	}

	av := kmsg.NewPtrApiVersionsRequest()
	av.ClientSoftwareName, av.ClientSoftwareVersion = "fuzz", "1"
	add(av, 0, 3, 5)

	md := kmsg.NewPtrMetadataRequest()
	mt := kmsg.NewMetadataRequestTopic()
	mt.Topic = &topic
	md.Topics = append(md.Topics, mt)
	md.AllowAutoTopicCreation = true
	add(md, 0, 4, 9, 12)

	pr := produceRequest(topic, 0, testBatch(tb, 1))
	add(pr, 3, 9, 12)
	pr0 := produceRequest(topic, 1, testBatch(tb, 2))
	pr0.Acks = 0
	add(pr0, 9)

	fe := kmsg.NewPtrFetchRequest()
	fe.MaxWaitMillis, fe.MinBytes, fe.MaxBytes = 10, 1, 1<<20
	ft := kmsg.NewFetchRequestTopic()
	ft.Topic = topic
	fp := kmsg.NewFetchRequestTopicPartition()
	fp.PartitionMaxBytes = 1 << 20
	ft.Partitions = append(ft.Partitions, fp)
	fe.Topics = append(fe.Topics, ft)
	add(fe, 4, 11, 12)

	lo := kmsg.NewPtrListOffsetsRequest()
	lt := kmsg.NewListOffsetsRequestTopic()
	lt.Topic = topic
	lp := kmsg.NewListOffsetsRequestTopicPartition()
	lp.Timestamp = -1
	lt.Partitions = append(lt.Partitions, lp)
	lo.Topics = append(lo.Topics, lt)
	add(lo, 0, 1, 7)

	ct := kmsg.NewPtrCreateTopicsRequest()
	ctt := kmsg.NewCreateTopicsRequestTopic()
	ctt.Topic, ctt.NumPartitions, ctt.ReplicationFactor = "fz-new", 1, 1
	ct.Topics = append(ct.Topics, ctt)
	add(ct, 0, 5, 7)

	dt := kmsg.NewPtrDeleteTopicsRequest()
	dt.TopicNames = []string{"fz-new"}
	add(dt, 0, 5)

	oc := kmsg.NewPtrOffsetCommitRequest()
	oc.Group = "g"
	oct := kmsg.NewOffsetCommitRequestTopic()
	oct.Topic = topic
	ocp := kmsg.NewOffsetCommitRequestTopicPartition()
	ocp.Offset = 0
	oct.Partitions = append(oct.Partitions, ocp)
	oc.Topics = append(oc.Topics, oct)
	add(oc, 0, 2, 8)

	of := kmsg.NewPtrOffsetFetchRequest()
	of.Group = "g"
	add(of, 1, 7)
	of8 := kmsg.NewPtrOffsetFetchRequest()
	of8.Groups = append(of8.Groups, kmsg.NewOffsetFetchRequestGroup())
	add(of8, 8)

	fc := kmsg.NewPtrFindCoordinatorRequest()
	fc.CoordinatorKey, fc.CoordinatorKeys = "g", []string{"g"}
	add(fc, 0, 3, 4)

	jg := kmsg.NewPtrJoinGroupRequest()
	jg.Group, jg.ProtocolType, jg.SessionTimeoutMillis, jg.RebalanceTimeoutMillis = "g", "consumer", 10, 10
	jp := kmsg.NewJoinGroupRequestProtocol()
	jp.Name = "range"
	jg.Protocols = append(jg.Protocols, jp)
	add(jg, 0, 4, 9)

	sg := kmsg.NewPtrSyncGroupRequest()
	sg.Group, sg.MemberID = "g", "m"
	add(sg, 0, 5)
	hb := kmsg.NewPtrHeartbeatRequest()
	hb.Group = "g"
	add(hb, 0, 4)
	lg := kmsg.NewPtrLeaveGroupRequest()
	lg.Group, lg.MemberID = "g", "m"
	add(lg, 0, 3, 5)
	dg := kmsg.NewPtrDescribeGroupsRequest()
	dg.Groups = []string{"g"}
	add(dg, 0, 5)
	add(kmsg.NewPtrListGroupsRequest(), 0, 4, 5)
	del := kmsg.NewPtrDeleteGroupsRequest()
	del.Groups = []string{"g"}
	add(del, 0, 2)

	dr := kmsg.NewPtrDeleteRecordsRequest()
	drt := kmsg.NewDeleteRecordsRequestTopic()
	drt.Topic = topic
	drt.Partitions = append(drt.Partitions, kmsg.NewDeleteRecordsRequestTopicPartition())
	dr.Topics = append(dr.Topics, drt)
	add(dr, 0, 2)

	add(kmsg.NewPtrInitProducerIDRequest(), 0, 4)

	dc := kmsg.NewPtrDescribeConfigsRequest()
	dcr := kmsg.NewDescribeConfigsRequestResource()
	dcr.ResourceType, dcr.ResourceName = kmsg.ConfigResourceTypeTopic, topic
	dc.Resources = append(dc.Resources, dcr)
	add(dc, 0, 4)

	ia := kmsg.NewPtrIncrementalAlterConfigsRequest()
	iar := kmsg.NewIncrementalAlterConfigsRequestResource()
	iar.ResourceType, iar.ResourceName = kmsg.ConfigResourceTypeTopic, topic
	v := "1000"
	iac := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
	iac.Name, iac.Value = "retention.ms", &v
	iar.Configs = append(iar.Configs, iac)
	ia.Resources = append(ia.Resources, iar)
	add(ia, 0, 1)

	ac := kmsg.NewPtrAlterConfigsRequest()
	acr := kmsg.NewAlterConfigsRequestResource()
	acr.ResourceType, acr.ResourceName = kmsg.ConfigResourceTypeTopic, topic
	ac.Resources = append(ac.Resources, acr)
	add(ac, 0, 2)

	cp := kmsg.NewPtrCreatePartitionsRequest()
	cpt := kmsg.NewCreatePartitionsRequestTopic()
	cpt.Topic, cpt.Count = topic, 3
	cp.Topics = append(cp.Topics, cpt)
	add(cp, 0, 3)

	od := kmsg.NewPtrOffsetDeleteRequest()
	od.Group = "g"
	odt := kmsg.NewOffsetDeleteRequestTopic()
	odt.Topic = topic
	odt.Partitions = append(odt.Partitions, kmsg.NewOffsetDeleteRequestTopicPartition())
	od.Topics = append(od.Topics, odt)
	add(od, 0)

	add(kmsg.NewPtrDescribeClusterRequest(), 0, 1, 2)

	var seeds [][]byte
	f := kmsg.NewRequestFormatter(kmsg.FormatterClientID("fuzz"))
	for i, r := range reqs {
		frame := f.AppendRequest(nil, r, int32(i))[4:]
		seeds = append(seeds, frame)
		if i%4 == 0 {
			seeds = append(seeds, frame[:len(frame)/2]) // truncated
		}
	}
	// Huge array counts: a Metadata v1 request claiming 2^31-1 topics, a
	// Produce v3 claiming as many topics.
	huge := f.AppendRequest(nil, withVersion(kmsg.NewPtrMetadataRequest(), 1), 1)[4:]
	binary.BigEndian.PutUint32(huge[len(huge)-4:], 1<<31-1)
	seeds = append(seeds, huge)
	hp := f.AppendRequest(nil, withVersion(kmsg.NewPtrProduceRequest(), 3), 2)[4:]
	binary.BigEndian.PutUint32(hp[len(hp)-4:], 1<<31-1)
	seeds = append(seeds, hp)
	// Tag sections announcing 2^32-1 fields, which kmsg alone would count
	// down for tens of seconds (see guard.go): in the header, and in the
	// body of an ApiVersions v3.
	seeds = append(seeds, []byte{0, 0, 0, 9, 0, 0, 0, 8, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f})
	seeds = append(seeds, []byte{0, 18, 0, 3, 0, 0, 0, 1, 0xff, 0xff, 0, 2, 'a', 2, 'b', 0xff, 0xff, 0xff, 0xff, 0x0f})
	// A v99 ApiVersions and an unknown key.
	seeds = append(seeds, []byte{0, 18, 0, 99, 0, 0, 0, 1, 0xff, 0xff, 0})
	seeds = append(seeds, []byte{0x7f, 0, 0, 0, 0, 0, 0, 1, 0xff, 0xff})
	return seeds
}

func withVersion(r kmsg.Request, v int16) kmsg.Request {
	r.SetVersion(v)
	return r
}

// cloneRequest returns a copy of r at its version, by encoding and
// decoding it, so that add can set another version on r afterwards.
func cloneRequest(tb testing.TB, r kmsg.Request) kmsg.Request {
	c := kmsg.RequestForKey(r.Key())
	c.SetVersion(r.GetVersion())
	if err := c.ReadFrom(r.AppendTo(nil)); err != nil {
		tb.Fatalf("clone %s v%d: %v", kmsg.NameForKey(r.Key()), r.GetVersion(), err)
	}
	return c
}
