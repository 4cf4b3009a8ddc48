// Package metrics holds the producer's Prometheus metrics, all named
// vehicle_producer_*, and registers them on the registry the HTTP server
// serves at /metrics.
//
// The methods are the per-batch hooks the sending path calls; they do not
// allocate. How it fails: New returns the registry's error when a name is
// already registered (two producers in one registry), never panics.
package metrics
