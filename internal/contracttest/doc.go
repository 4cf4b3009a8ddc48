// Package contracttest is what every test tier knows of docs/contract.md,
// once: the processor's end-to-end tests, the web page's harness, the
// compose tests, the soak and the bench tools all import it.
//
// It holds the oracle (Expected, Tally, ExpectedLog): a naive reference of
// the contract's event-time semantics, apart from the processor's own
// package eventtime, which checks itself against it in its property tests;
// the input generator (Dataset) with every timestamp form and kind of bad
// record; and the output side (ReadPartition, CompareOutput): each expected
// (window, type) key once, byte for byte, no key with two values, nothing
// else.
//
// The oracle assumes no window closed while a partition was idle, as in a
// preloaded or steady stream: the contract's condition for an output that
// is a function of the input alone. The functions that read Kafka return
// an error that names the topic and partition; nothing else fails.
package contracttest
