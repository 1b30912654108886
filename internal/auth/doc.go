// Package auth holds Loft's users, virtual hosts and permissions, modelled
// on RabbitMQ's internal auth backend so that RabbitMQ definitions can be
// exported and imported: password hashes, tags and permission patterns keep
// RabbitMQ's formats and field names.
//
// # What it owns
//
//   - Users: a name, a password hash (never the password) with its hashing
//     algorithm, and free-form tags (administrator, monitoring, management,
//     policymaker, impersonator, or anything else).
//   - Vhosts: a name, a description and tags.
//   - Permissions: per user and vhost, three regular expressions
//     (configure, write, read) that a resource name must match.
//   - Authentication: checking a user's password, and the loopback-only
//     rule for the default user (RabbitMQ's loopback_users).
//   - The SASL PLAIN and AMQPLAIN responses AMQP clients send.
//
// # What it must not do
//
// It knows no exchanges, queues or connections: deleting a vhost removes
// its permissions only, and the broker deletes the vhost's entities
// itself (and should refuse new connections to it first). It depends on no
// other Loft package but meta, so that every protocol front-end can call it.
//
// # Durability
//
// Everything lives in the meta store, as JSON under
//
//	user/<user>                 {"name","password_hash","hashing_algorithm","tags"}
//	vhost/<vhost>               {"name","description","tags"}
//	permission/<vhost>/<user>   {"user","vhost","configure","write","read"}
//	auth/initialized            written once, with the defaults
//
// Every change is one meta.Apply, so it is whole or absent after a crash:
// deleting a user takes its permissions with it in the same Apply, as
// deleting a vhost does. On a fresh store Open creates, in one Apply, the
// vhost "/", the user guest (password guest, tag administrator) with full
// permissions on "/", and the auth/initialized marker, so that deleting
// guest later does not bring it back at the next start.
//
// # Permissions
//
// As in RabbitMQ, a pattern matches anywhere in the name unless anchored:
// ".*" allows everything, "^amq\.gen.*" names beginning "amq.gen", "^q$"
// exactly "q". The empty pattern allows nothing. Patterns are Go regexps
// (RE2), not Erlang's PCRE: the usual ones mean the same, and one Go cannot
// compile is refused when set. Access to a vhost requires a permission
// entry for it, whatever its patterns. The broker checks the default
// exchange as "amq.default", as RabbitMQ does.
//
// # Concurrency
//
// A Store is safe for concurrent use. Changes are serialised by one mutex
// (held across the meta.Apply, so a check and the write it guards cannot
// interleave with another change); the in-memory state, with the compiled
// patterns, is read under an RWMutex that a change takes only after its
// Apply succeeded. Lock order: write mutex, then state mutex.
package auth
