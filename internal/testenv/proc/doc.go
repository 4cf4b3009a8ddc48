// Package proc runs the service binaries for tests, benchmarks and the
// soak, one launcher per binary: ProcessorConfig and ProducerConfig say
// how (their Env is the services' PROCESSOR_* and PRODUCER_* variables),
// and each binary has three ways in:
//
//   - ExecProcessor / ExecProducer start it and return at once (a test
//     of a start that must fail, or of a dependency that is down);
//   - LaunchProcessor / LaunchProducer also wait for /readyz 200 under a
//     context, returning an error (tools, no testing.T);
//   - StartProcessor / StartProducer build it, start it for a test, wait,
//     and kill it when the test ends.
//
// Every process logs to a file; a failure to start or to become ready
// says so with the end of that log. procenv prints a ProcessorConfig or a
// ProducerConfig as KEY=VALUE lines, for the scripts under bench/.
package proc
