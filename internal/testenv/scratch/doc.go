// Package scratch makes and removes what a test or a tool uses on a shared
// Kafka and Redis: names no one else uses, topics, key prefixes, free
// ports. It needs no testing.T and links no Docker client, so benchmark
// tools and the soak use it as tests do (through testenv).
//
// Every function returns an error that names what failed; none retries
// beyond waiting for a new topic's leaders.
package scratch
