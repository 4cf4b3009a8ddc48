// Command procenv prints a service's environment as proc.ProcessorConfig or
// proc.ProducerConfig makes it, one KEY=VALUE a line, for scripts that start
// the binaries themselves:
//
//	procenv [processor] -brokers ... -input ...   (bench/compare/run.sh)
//	procenv producer -brokers ... -topic ...      (bench/producer/run.sh)
//
// and then
//
//	mapfile -t env <<<"$vars"
//	env "${env[@]}" bin/stats-processor
//
// A bad flag exits 2 with the usage.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/vehicle-stats/vehicle-stats/internal/testenv/proc"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "procenv:", err)
		os.Exit(2)
	}
}

type extra []string

func (e *extra) String() string      { return strings.Join(*e, " ") }
func (e *extra) Set(kv string) error { *e = append(*e, kv); return nil }

// brokerList is a comma-separated -brokers flag.
type brokerList []string

func (b *brokerList) String() string { return strings.Join(*b, ",") }
func (b *brokerList) Set(s string) error {
	*b = strings.Split(s, ",")
	return nil
}

// run parses the service ("processor" when the first argument is a flag)
// and its flags, and prints its environment.
func run(args []string, out io.Writer) error {
	service := "processor"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		service, args = args[0], args[1:]
	}
	var env func() []string
	fs := flag.NewFlagSet("procenv "+service, flag.ContinueOnError)
	switch service {
	case "processor":
		env = processorFlags(fs)
	case "producer":
		env = producerFlags(fs)
	default:
		return fmt.Errorf("unknown service %q: processor or producer", service)
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q: every setting is a flag", fs.Args())
	}
	for _, kv := range env() {
		if _, err := fmt.Fprintln(out, kv); err != nil {
			return err
		}
	}
	return nil
}

func processorFlags(fs *flag.FlagSet) func() []string {
	var c proc.ProcessorConfig
	fs.Var((*brokerList)(&c.Brokers), "brokers", "Kafka bootstrap addresses, comma-separated")
	fs.StringVar(&c.RedisAddr, "redis", "", "Redis host:port")
	fs.StringVar(&c.KeyPrefix, "key-prefix", "", "Redis key prefix")
	fs.StringVar(&c.Input, "input", "", "input topic")
	fs.StringVar(&c.Output, "output", "", "output topic")
	fs.StringVar(&c.DeadLetter, "dead-letter", "", "dead-letter topic")
	fs.StringVar(&c.Late, "late", "", "late-events topic")
	fs.StringVar(&c.Group, "group", "", "consumer group")
	fs.BoolVar(&c.Earliest, "earliest", false, "start partitions with no saved state at their beginning")
	fs.DurationVar(&c.Window, "window", 0, "window size")
	fs.DurationVar(&c.IdleTimeout, "idle-timeout", 0, "watermark idle timeout")
	fs.StringVar(&c.HTTPAddr, "http-addr", "", "HTTP listen address")
	fs.StringVar(&c.InstanceID, "instance-id", "", "instance id")
	fs.Var((*extra)(&c.Extra), "set", "one more PROCESSOR_KEY=VALUE (repeatable)")
	return func() []string { return c.Env() }
}

func producerFlags(fs *flag.FlagSet) func() []string {
	var c proc.ProducerConfig
	fs.Var((*brokerList)(&c.Brokers), "brokers", "Kafka bootstrap addresses, comma-separated")
	fs.StringVar(&c.Topic, "topic", "", "topic to write to")
	fs.StringVar(&c.Compression, "compression", "", "compression codec (none, gzip, snappy, lz4, zstd)")
	fs.Float64Var(&c.Rate, "rate", 0, "events per second")
	fs.BoolVar(&c.Unpaced, "unpaced", false, "send as fast as possible (rate 0)")
	fs.Int64Var(&c.Count, "count", 0, "events to send before exiting")
	fs.Uint64Var(&c.Seed, "seed", 0, "seed of the event sequence")
	fs.StringVar(&c.HTTPAddr, "http-addr", "", "HTTP listen address")
	fs.Var((*extra)(&c.Extra), "set", "one more PRODUCER_KEY=VALUE (repeatable)")
	return func() []string { return c.Env() }
}
