// Command procenv prints a stats-processor's environment as proc.ProcessorConfig
// makes it, one KEY=VALUE a line, for scripts that start the processor
// themselves (bench/compare/run.sh):
//
//	mapfile -t env < <(procenv -brokers ... -input ...)
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

func run(args []string, out io.Writer) error {
	var c proc.ProcessorConfig
	var brokers string
	fs := flag.NewFlagSet("procenv", flag.ContinueOnError)
	fs.StringVar(&brokers, "brokers", "", "Kafka bootstrap addresses, comma-separated")
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
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q: every setting is a flag", fs.Args())
	}
	if brokers != "" {
		c.Brokers = strings.Split(brokers, ",")
	}
	for _, kv := range c.Env() {
		if _, err := fmt.Fprintln(out, kv); err != nil {
			return err
		}
	}
	return nil
}
