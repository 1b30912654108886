// Package streamapi is Loft's native HTTP API for Kafka-style streams,
// served under /api/v1/: topics (list, create, delete, describe, configs),
// consumer groups (list, describe with lag, reset offsets, delete),
// publishing records, reading them with a long poll, and tailing a
// partition as Server-Sent Events. GET /api/v1/openapi.json serves an
// OpenAPI 3 document of every route; docs/HTTP.md describes them for people.
//
// # What it owns
//
// The translation between JSON over HTTP and calls on the broker
// (internal/broker) and the group coordinator (internal/group): the
// routes, the JSON shapes, the mapping of their errors onto HTTP status
// codes, and the bounds on what one request may cost (records per read,
// wait of a long poll, bytes per body, time per Server-Sent Event write).
//
// Users authenticate with HTTP basic auth as the broker's users, through
// internal/httpx: reading needs one of the tags of httpx.Management,
// publishing too, and changing anything (topics, configs, groups, offsets)
// the administrator tag.
//
// # What it must not do
//
// It must not reach into storage: records are read and written through
// broker.Partition, offsets through group.Coordinator. It must not answer
// a client's mistake with 500: every error of the broker and the
// coordinator maps onto a 4xx, or 503 for a storage failure or a broker
// shutting down.
//
// # Long-lived requests
//
// A long poll and an event stream may outlive the server's WriteTimeout,
// so both set their own write deadlines (http.ResponseController): a long
// poll one for its answer, an event stream one per write, which cuts off
// a client that stops reading. Close ends every one of them; the
// server calls it when it shuts down (http.Server.RegisterOnShutdown), as
// Shutdown does not cancel the contexts of requests under way.
package streamapi
