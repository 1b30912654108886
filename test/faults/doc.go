// Package faults holds Loft's fault-injection tests that need a real
// `loft serve` process: the crash loop, which SIGKILLs the server again and
// again under AMQP and Kafka load from unmodified clients (amqp091-go and
// franz-go), restarts it on the same data directory each time, and checks
// at the end that nothing confirmed or acknowledged was lost, nothing
// appeared that was never published, order held, committed offsets never
// went back, and no settled ack was undone.
//
// The CI form kills 20 times; `make faults` kills 200 times. LOFT_FAULT_KILLS
// sets the number, and LOFT_FAULT_SEED replays a run's kill schedule (the
// seed is logged). It holds only tests.
package faults
