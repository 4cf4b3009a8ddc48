// Package private gives a test Kafka brokers and Redis servers of its own,
// for what it cannot do to the shared ones: stop, kill and restart them,
// put a network fault proxy in front, require SASL or TLS (with a CA made
// for the test, PKI), or run a Redis Cluster. deploy/local/stack.sh runs
// each in a temporary folder on free ports; the Redis Cluster's nodes are
// redis-server processes of the test. Everything stops when the test ends.
//
// Each Start function skips its test under -short and where the server
// cannot run here (no Java for Kafka, no redis-server), saying what to
// install. Tests call testenv.Get first, so they are skipped wherever
// integration tests are.
package private
