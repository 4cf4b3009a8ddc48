// Package pacer spaces events at a rate by absolute time: event k of a
// schedule is due at anchor + k/rate, so a loop that oversleeps or is slow to
// send one event does not push every later event back, and the long-run rate
// is exactly the one asked for.
//
// The rate can change at any time (the HTTP API does this); the new schedule
// starts from the last event issued. A loop that falls more than MaxLag
// behind (the Kafka window was full, the machine was busy) starts a fresh
// schedule at the current time instead of bursting the backlog out.
//
// The package is pure: time is always passed in, so tests drive it with a
// fake clock. A Pacer is safe for concurrent use.
//
// How it fails: ValidateRate names what is wrong with a rate; SetRate
// refuses such a rate and keeps the old one.
package pacer
