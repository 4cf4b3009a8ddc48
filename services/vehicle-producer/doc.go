// Command vehicle-producer writes a realistic, controllable stream of
// vehicle sightings to Kafka: the input of the vehicle-statistics pipeline.
//
// It reads its configuration from built-in defaults, configs/vehicle-
// producer.yaml (or --config PATH), PRODUCER_* environment variables and
// --key=value flags; --help lists every key. It serves /healthz, /readyz,
// /metrics, /status and PUT /rate on http.addr (default :9090).
//
// Exit codes: 0 after SIGTERM or SIGINT once everything generated was
// acknowledged by Kafka, or after count events were sent; 1 when start-up
// fails (Kafka unreachable for kafka.startup_timeout, HTTP address taken), on
// a permanent Kafka error, or when stopping could not flush every event
// within kafka.flush_timeout; 2 for a bad configuration (one message names
// every bad key). See docs/vehicle-producer.md.
package main
