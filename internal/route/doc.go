// Package route decides which destinations an AMQP 0-9-1 exchange routes a
// message to, as RabbitMQ does it. The broker core holds one Router per
// exchange; a Router owns that exchange's bindings and nothing else.
//
// # Exchange kinds
//
//   - Direct: the routing key equals the binding key.
//   - Fanout: every binding matches; keys are ignored.
//   - Topic: binding keys are patterns of '.'-separated words, where '*'
//     matches exactly one word and '#' zero or more. Empty words are words
//     ("a..b" has three), and the empty key has none, so "#" matches it and
//     "*" does not. Patterns live in a trie over words, as in RabbitMQ, so
//     routing cost follows the patterns that could match rather than all of
//     them; '#' is matched by backtracking that walks each (node, word)
//     pair at most once, which bounds pathological patterns such as
//     "#.#.#.#.a" to trie size times key length.
//   - Headers: binding arguments are matched against message headers under
//     x-match all, any, all-with-x or any-with-x (RabbitMQ 3.10+). The plain
//     modes ignore arguments whose names start with "x-"; the -with-x modes
//     consider them. x-match itself is never matched. A nil (void) argument
//     matches on the header's presence; other values by equality, numbers
//     by numeric value (1 equals 1.0, as Erlang's == has it) and strings
//     equal to byte arrays of the same bytes.
//
// # Bindings
//
// A binding is a (destination, key, arguments) triple and is identified by
// all three, arguments compared by value and type regardless of map order,
// as RabbitMQ identifies them. Binding an existing triple again is a no-op.
// Arguments other than x-match and the headers to match are kept for
// listing but do not affect routing.
//
// # What it must not do
//
// No I/O, no logging, no knowledge of queues, streams or protocols:
// destinations are opaque comparable values chosen by the caller.
//
// # Concurrency
//
// A Router is safe for concurrent use: writes (Bind, Unbind, UnbindDest)
// take an exclusive lock and reads (Route, Bindings, Len) a shared one, so
// publishers route in parallel.
package route
