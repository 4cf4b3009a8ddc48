// Package metrics holds stats-processor's Prometheus metrics, registered in
// one place, and decides in one place how dependency failures are counted:
// the code that talks to Kafka or Redis marks a failure with Failed, and the
// loop that handles it calls CountErrors once. New fails only when
// a metric is registered on its registry already.
package metrics
