package group

import (
	"time"
)

// Protocol is one assignment protocol a member supports, with the member's
// metadata for it (for "consumer": its subscription).
type Protocol struct {
	Name     string
	Metadata []byte
}

// JoinRequest is one JoinGroup call.
type JoinRequest struct {
	Group        string
	MemberID     string  // "" for a new member
	InstanceID   *string // group.instance.id: static membership
	ProtocolType string  // "consumer" for Kafka consumers
	Protocols    []Protocol

	SessionTimeout   time.Duration
	RebalanceTimeout time.Duration // 0: the session timeout (JoinGroup v0)
	ClientID         string
	ClientHost       string

	// Version is the JoinGroup request version: from v4 on a member
	// without an id is given one and must join again with it
	// (MEMBER_ID_REQUIRED), so that a member that never comes back costs
	// no rebalance.
	Version int16
}

// Member is one member as the leader sees it in its JoinResponse.
type Member struct {
	ID         string
	InstanceID *string
	Metadata   []byte // the member's metadata for the chosen protocol
}

// JoinResponse answers a JoinRequest. Err is a Kafka error code (0: none).
type JoinResponse struct {
	Err          int16
	Generation   int32
	ProtocolType string
	Protocol     string
	Leader       string
	MemberID     string
	Members      []Member // only for the leader

	// SkipAssignment is set when a static leader rejoined a stable group
	// without a rebalance: it must not compute a new assignment (KIP-814).
	SkipAssignment bool
}

// Assignment is the leader's assignment for one member.
type Assignment struct {
	MemberID   string
	Assignment []byte
}

// SyncRequest is one SyncGroup call. ProtocolType and Protocol come with
// SyncGroup v5 and are checked when present.
type SyncRequest struct {
	Group        string
	MemberID     string
	InstanceID   *string
	Generation   int32
	ProtocolType *string
	Protocol     *string
	Assignments  []Assignment // only from the leader
}

// SyncResponse answers a SyncRequest. Err is a Kafka error code (0: none).
type SyncResponse struct {
	Err          int16
	ProtocolType *string
	Protocol     *string
	Assignment   []byte
}

// LeaveMember names one member leaving: by member id, or (LeaveGroup v3+)
// by instance id, with the member id "" or the instance's current one.
type LeaveMember struct {
	MemberID   string
	InstanceID *string
}

// GroupDescription is what DescribeGroups tells of a group.
type GroupDescription struct {
	Group        string
	State        string // Empty, PreparingRebalance, CompletingRebalance, Stable, Dead
	ProtocolType string
	Protocol     string
	Members      []MemberDescription
}

// MemberDescription is one member of a described group.
type MemberDescription struct {
	ID         string
	InstanceID *string
	ClientID   string
	ClientHost string
	Metadata   []byte // for the chosen protocol
	Assignment []byte // the last one synced
}

// GroupListing is one group in ListGroups.
type GroupListing struct {
	Group        string
	ProtocolType string
	State        string
}

// OffsetCommit is one partition's offset in a commit.
type OffsetCommit struct {
	Topic       string
	Partition   int32
	Offset      int64
	LeaderEpoch int32 // -1: unknown
	Metadata    *string
}

// CommittedOffset is one partition's committed offset as Fetch returns it:
// Offset -1 (and LeaderEpoch -1) when nothing is committed.
type CommittedOffset struct {
	Topic       string
	Partition   int32
	Offset      int64
	LeaderEpoch int32
	Metadata    *string
	Err         int16
}
