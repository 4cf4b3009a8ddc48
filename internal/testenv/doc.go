// Package testenv gives integration tests a real Kafka broker and a real Redis,
// each test its own topics and key prefix, and cleans up after it.
//
// Where they come from, in order:
//  1. VS_KAFKA_BROKERS (comma-separated) and VS_REDIS_ADDR: the local stack
//     that `make test` starts (deploy/local/stack.sh env prints them);
//  2. a Docker engine that answers: testcontainers-go starts Kafka and Redis
//     (the compose file's images) once per test binary. Ryuk removes them
//     when the binary exits; where Ryuk's image cannot be pulled
//     (TESTCONTAINERS_RYUK_DISABLED=true), `make test-docker` removes them
//     by their label, ContainerLabel;
//  3. neither: the test is skipped with one line saying how to run it.
//
// Each test logs which of these gave its services.
//
// Servers of a test's own, to stop, secure or cluster, come from package
// private; processes of the services from proc.
//
// Under `go test -short` integration tests are always skipped, so the unit
// tier never needs a service.
package testenv
