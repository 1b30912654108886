package group

import (
	"github.com/twmb/franz-go/pkg/kmsg"
)

// consumerProtocolType is the protocol type of Kafka consumers, whose
// member metadata is the standard ConsumerMemberMetadata.
const consumerProtocolType = "consumer"

// supportsProtocols reports whether a member of protocolType with
// protocols may join (Kafka's GroupMetadata.supportsProtocols): an empty
// group takes any non-empty set; otherwise the type must match and one of
// the protocols must be supported by every current member, so the group
// always has a protocol in common.
func (g *group) supportsProtocols(protocolType string, protocols []Protocol) bool {
	if len(g.members) == 0 {
		return protocolType != "" && len(protocols) > 0
	}
	if protocolType != g.protocolType {
		return false
	}
	for _, p := range protocols {
		if g.supportedByAll(p.Name) {
			return true
		}
	}
	return false
}

// supportedByAll reports whether every member lists protocol.
func (g *group) supportedByAll(protocol string) bool {
	for _, m := range g.members {
		if !m.hasProtocol(protocol) {
			return false
		}
	}
	return true
}

func (m *member) hasProtocol(name string) bool {
	for _, p := range m.protocols {
		if p.Name == name {
			return true
		}
	}
	return false
}

// selectProtocol chooses the group's protocol as Kafka does: among the
// protocols every member supports, each member votes for the first in its
// own order of preference, and the most votes win. Ties go to the one the
// leader prefers, so the choice does not depend on map order.
func (g *group) selectProtocol() string {
	votes := make(map[string]int)
	for _, m := range g.members {
		for _, p := range m.protocols {
			if g.supportedByAll(p.Name) {
				votes[p.Name]++
				break
			}
		}
	}
	var order []Protocol
	if l := g.members[g.leader]; l != nil {
		order = l.protocols
	} else {
		for _, id := range sortedKeys(g.members) {
			order = g.members[id].protocols
			break
		}
	}
	best, bestVotes := "", 0
	for _, p := range order {
		if v := votes[p.Name]; v > bestVotes {
			best, bestVotes = p.Name, v
		}
	}
	if best == "" && len(order) > 0 {
		// Cannot happen while supportsProtocols guards every join; pick
		// something rather than leave the group without a protocol.
		g.c.log.Error("group: no protocol common to all members", "group", g.name)
		best = order[0].Name
	}
	return best
}

// subscribedTopics returns the topics the live members of a "consumer"
// group subscribe to, read from their ConsumerMemberMetadata (every
// protocol's, since the assignors differ only in user data). all is true
// when some member's metadata does not parse: then every topic must be
// taken as subscribed.
func (g *group) subscribedTopics() (topics map[string]bool, all bool) {
	topics = make(map[string]bool)
	for _, m := range g.members {
		for _, p := range m.protocols {
			var md kmsg.ConsumerMemberMetadata
			if err := md.ReadFrom(p.Metadata); err != nil {
				return nil, true
			}
			for _, t := range md.Topics {
				topics[t] = true
			}
		}
	}
	return topics, false
}

// emptyConsumerAssignment is an encoded ConsumerMemberAssignment with no
// partitions: what a "consumer" member the leader gave nothing receives,
// so that it still decodes one (Kafka sends zero bytes, which some clients
// fail to parse).
var emptyConsumerAssignment = func() []byte {
	a := kmsg.NewConsumerMemberAssignment()
	return a.AppendTo(nil)
}()
