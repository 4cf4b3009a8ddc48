// Command latency is `make bench-latency`: how long after a window ends its
// records are on the output topic, for stats-processor and the reference
// jobs, each measured live on the same broker, one after the other.
//
// For each system, on fresh topics: the system is started and given time to
// settle; a loader writes Vehicle events at a fixed rate for a fixed time,
// each stamped with the wall clock as it is sent, round-robin over the
// input's partitions; a reader consumes the system's output topic from its
// start (read_committed) and notes, for each window record, its arrival time
// minus the window's end. Only windows that start after the loader's first
// (partial) window and end at least 1 s before the loader stops are
// measured. Each measured window and type must arrive, with the count of
// events the loader had acknowledged for it.
//
//	latency -brokers 127.0.0.1:19092 -redis-addr 127.0.0.1:16379 -systems ours:1,ours:3 -out out/bench-latency
//
// bench/latency/run.sh builds the systems and passes their class paths.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/vehicle-stats/vehicle-stats/bench/internal/live"
)

type options struct {
	brokers    []string
	redisAddr  string
	rate       float64
	duration   time.Duration
	partitions int
	window     time.Duration
	systems    []string
	out        string
	run        string
	processor  string
	procNote   string
	flinkCP    string
	flinkName  string
	streamsCP  string
	streamsVer string
	javaHeap   string
	flinkPar   int
	eosCkpt    time.Duration
	settle     time.Duration
	jvmSettle  time.Duration
	wait       time.Duration
	rates      []float64 // bench-sustain: the rate ladder; empty: one step at rate
	doc        string
	commit     string
	retries    int
}

func main() {
	var o options
	var brokers, systems, rates string
	flag.StringVar(&brokers, "brokers", "127.0.0.1:19092", "Kafka bootstrap brokers, comma-separated")
	flag.StringVar(&o.redisAddr, "redis-addr", "127.0.0.1:16379", "Redis host:port, for stats-processor")
	flag.Float64Var(&o.rate, "rate", 10000, "events per second")
	flag.DurationVar(&o.duration, "duration", 60*time.Second, "how long the loader writes")
	flag.IntVar(&o.partitions, "partitions", 6, "input partitions")
	flag.DurationVar(&o.window, "window", 20*time.Second, "window size of every system")
	flag.StringVar(&systems, "systems", "ours:1,ours:3,flink:at-least-once,flink:exactly-once,streams",
		"systems to run, in order, comma-separated: ours:N (N instances), ours-cluster:N (N instances on a Redis Cluster of 3 local masters started for each step), flink:at-least-once, flink:exactly-once, streams")
	flag.StringVar(&o.out, "out", "out/bench-latency", "directory for logs and results.md")
	flag.StringVar(&o.processor, "processor", "bin/stats-processor", "the stats-processor binary")
	flag.StringVar(&o.procNote, "processor-note", "", "added to stats-processor's rows, e.g. which build it is")
	flag.StringVar(&o.flinkCP, "flink-cp", "", "class path of the live Flink job")
	flag.StringVar(&o.flinkName, "flink-name", "Flink", "the Flink rows' name, e.g. with its version")
	flag.StringVar(&o.streamsCP, "streams-cp", "", "class path of the Kafka Streams reference")
	flag.StringVar(&o.streamsVer, "streams-name", "Kafka Streams", "the Kafka Streams row's name")
	flag.StringVar(&o.javaHeap, "java-heap", "1g", "heap of the Flink job and the Kafka Streams application")
	flag.IntVar(&o.flinkPar, "flink-parallelism", 2, "parallelism of the Flink job")
	flag.DurationVar(&o.eosCkpt, "flink-checkpoint", time.Second, "checkpoint interval of the exactly-once Flink job")
	flag.DurationVar(&o.settle, "settle", 5*time.Second, "wait after stats-processor answers /readyz before loading")
	flag.DurationVar(&o.jvmSettle, "jvm-settle", 20*time.Second, "wait after starting a JVM system before loading")
	flag.DurationVar(&o.wait, "wait", 60*time.Second, "how long to wait for missing window records after the loader stops")
	flag.StringVar(&rates, "rates", "", "bench-sustain: rates to climb, events/s, space- or comma-separated; each system stops at its first unsustainable step (replaces -rate)")
	flag.StringVar(&o.doc, "doc", "", "bench-sustain: also write the table between the generated-section markers of this page")
	flag.StringVar(&o.commit, "commit", "", "bench-sustain: the commit measured, for the table's head")
	flag.IntVar(&o.retries, "retries", 1, "bench-sustain: how often an unsustainable step is tried again before the climb stops (the machine is shared)")
	flag.Parse()
	o.brokers = strings.Split(brokers, ",")
	o.systems = strings.Split(systems, ",")
	o.run = time.Now().UTC().Format("20060102-150405")
	for _, f := range strings.FieldsFunc(rates, func(r rune) bool { return r == ',' || r == ' ' }) {
		v, err := strconv.ParseFloat(f, 64)
		if err != nil || v <= 0 {
			fmt.Fprintf(os.Stderr, "latency: -rates: %q is not a positive number of events/s\n", f)
			os.Exit(2)
		}
		o.rates = append(o.rates, v)
	}
	if o.rate <= 0 || o.duration <= 0 || o.partitions <= 0 {
		fmt.Fprintln(os.Stderr, "latency: -rate, -duration and -partitions must be positive")
		os.Exit(2)
	}
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, "latency:", err)
		os.Exit(1)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	cl := &live.Cleanup{}
	if len(o.rates) > 0 {
		os.Exit(sustain(ctx, o, cl))
	}
	var rows []row
	failed := false
	for _, s := range o.systems {
		step("%s: start", s)
		r, err := measure(ctx, o, s, cl)
		if err != nil {
			fmt.Fprintf(os.Stderr, "latency: %s: %v\n", s, err)
			failed = true
		}
		if r.system != "" {
			rows = append(rows, r)
			failed = failed || !r.ok
		}
		if ctx.Err() != nil {
			break
		}
	}
	if err := cl.Write(filepath.Join(o.out, "cleanup.env")); err != nil {
		fmt.Fprintln(os.Stderr, "latency:", err)
	}
	table := render(o, rows)
	fmt.Print(table)
	if err := os.WriteFile(filepath.Join(o.out, "results.md"), []byte(table), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "latency:", err)
		failed = true
	}
	if failed {
		fmt.Fprintln(os.Stderr, "latency: FAILED: a system did not run, a window record is missing or undecodable, or our counts differ from what was sent (see above)")
		os.Exit(1)
	}
}

func step(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "\n== %s %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}
