// Package generator makes the producer's events: random but realistic
// vehicles (Bulgarian-style plate numbers, version 4 vignette sticker UUIDs,
// a weighted mix of vehicle types) with an event time taken from the caller's
// clock, optionally moved into the past to simulate out-of-order and late
// arrivals.
//
// It is pure: no I/O, no goroutines, no global state. Every random choice
// comes from one PCG generator seeded by Config.Seed, drawn in a fixed order
// per event, so the same Config gives the same sequence of plates, stickers,
// types and delays on every run and machine. Event times depend on the clock
// the caller passes in, nothing else.
//
// How it fails: Config.Validate names every bad setting; New refuses an
// invalid Config with that error. Next never fails and does not allocate.
package generator
