// Package producer is the producer's main loop: it asks the pacer how many
// events are due, reserves room for them in the sink's in-flight window,
// makes them with the generator, encodes each as the contract's Vehicle JSON
// keyed by its plate number, and hands them to the sink.
//
// Stopping (SIGTERM, SIGINT, or count reached) stops generating first; the
// sink then flushes what was handed over. With Config.Count set, the loop
// makes exactly that many events, waits until Kafka acknowledged all of
// them, and reports completion through Options.OnDone.
//
// How it fails: New refuses a bad Config. A sink that is closed or broken
// ends the loop with an error, reported through Options.OnDone (the fx
// module turns it into a shutdown with exit code 1). Encoding never fails:
// the generator only makes valid vehicles.
package producer
