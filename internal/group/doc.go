// Package group is Kafka's classic consumer-group coordinator and the home
// of committed offsets.
//
// # What it owns
//
// Group membership, as Kafka's GroupCoordinator runs it for JoinGroup,
// SyncGroup, Heartbeat and LeaveGroup: each group moves through Empty →
// PreparingRebalance → CompletingRebalance → Stable with a generation that
// grows by one per completed join. A rebalance starts when a member joins,
// leaves, changes its protocols, or is kicked (its session expired, or it
// did not rejoin within the rebalance timeout, or did not sync within it);
// it completes when every member has rejoined or the largest rebalance
// timeout of the members has passed. The leader chooses assignments on the
// client side; this package only hands them out, so eager and cooperative
// assignors both work. Static members (group.instance.id, KIP-345) keep
// their place across restarts: the new member id replaces the old one,
// which is fenced (FENCED_INSTANCE_ID), and a stable group whose protocol
// would not change is not rebalanced. Membership lives in memory only:
// after a restart members find themselves unknown and join again.
//
// Committed offsets, durably, in internal/meta under
// group/<group>/offset/<topic>/<partition> (see offsets.go for the
// value). A commit request is one meta.Apply: atomic, and fsynced before
// Commit returns. A group with committed offsets and no members is an
// Empty group: listed, described, deletable.
//
// It speaks Kafka's protocol, so results are Kafka error codes (int16,
// from kerr) rather than Go errors; the kafka package puts them on the
// wire as they are.
//
// # What it must not do
//
// It decodes no Kafka frames and knows nothing of connections: the kafka
// package calls it with plain values. It does not check that topics or
// partitions exist (the kafka package does, with the broker). It reads
// member metadata only to learn a "consumer" group's subscriptions, for
// OffsetDelete.
//
// # Choices and differences from Kafka
//
//   - Membership is not persisted (Kafka writes it to __consumer_offsets):
//     a restart costs one rebalance, never an offset.
//   - A "consumer" member the leader assigned nothing gets an encoded
//     empty ConsumerMemberAssignment rather than zero bytes, which some
//     clients cannot parse.
//   - OffsetDelete learns subscriptions only from the standard consumer
//     protocol metadata; a group of another protocol type with members
//     answers NON_EMPTY_GROUP, as Kafka does.
//   - A failed offset write answers NOT_COORDINATOR (Kafka's mapping of a
//     storage error), or INVALID_COMMIT_OFFSET_SIZE past meta's limits.
//   - Offsets are never expired by age (offsets.retention.minutes): they go
//     with DeleteGroups, OffsetDelete or the deletion of their topic.
//   - Empty groups stay listed until deleted or the coordinator restarts.
//
// # Concurrency
//
// Each group has its own mutex, and the coordinator one for its map of
// groups, taken before a group's, never after. JoinGroup and SyncGroup
// park the caller on a channel and release the lock; the group's timers
// (time.AfterFunc) take the lock and check that what they were armed for
// still holds. No lock is held across a meta write.
package group
