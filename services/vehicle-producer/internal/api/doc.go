// Package api adds the producer's own HTTP endpoints to the shared server:
// GET /status (effective configuration, counters, last error, uptime) and
// PUT /rate (change the rate at run time, body {"rate": 5}).
//
// The handlers take plain functions for what they read and change, so they
// are tested without Kafka. How it fails: a bad PUT /rate body gets 400 with
// a JSON body {"error": "..."} saying what is wrong and nothing changes.
package api
