// Command failover is `make bench-failover`: how long the output stalls
// when an instance is killed (SIGKILL) or stopped (SIGTERM) under live
// load, for stats-processor (the closer lease holder, and an instance that
// does not hold it) and for the Kafka Streams reference (one of its
// instances killed), at the default session timeout and at the broker's
// minimum.
//
// Each run is on fresh topics, group and Redis prefix: the instances are
// started and given time to settle; a reader follows the output topic
// (bench/internal/live, as bench/latency); a loader writes Vehicle events
// at a fixed rate stamped with the wall clock, over the input's partitions;
// after a warm-up the fault is injected at T; the loader goes on for the
// observation time and stops; the run waits for the remaining windows. The
// windows are short (1 s by default), so that "the next window closed"
// measures the outage and not the window's length. Per run:
//
//   - recovery: the first window ending after T, arrival of its last record
//     − max(T, its end);
//   - T → next window: that arrival − T;
//   - the largest emit delay (arrival of a window's last record − its end)
//     among the windows ending in [T, T + observation];
//   - the emit delay before the fault (median over the 10 s before T), for
//     scale;
//   - whether every window's counts equal what the loader had acknowledged
//     for it (ours: exact by contract, a difference fails the run).
//
// Usage:
//
//	failover -brokers 127.0.0.1:19092 -redis-addr 127.0.0.1:16379 -processors main=bin/stats-processor
//
// bench/failover/run.sh builds the processor and the Kafka Streams reference
// and deletes what the runs created.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/vehicle-stats/vehicle-stats/bench/internal/live"
)

type options struct {
	brokers    []string
	redisAddr  string
	rate       float64
	partitions int
	window     time.Duration
	instances  int
	builds     []build
	faults     []string
	sessions   []time.Duration
	idle       time.Duration
	warmup     time.Duration
	after      time.Duration
	settle     time.Duration
	wait       time.Duration
	streamsCP  string
	streamsVer string
	streamsN   int
	streamsSes []time.Duration
	javaHeap   string
	jvmSettle  time.Duration
	out        string
	doc        string
	command    string
	run        string
}

// build is one stats-processor binary under a label.
type build struct{ label, bin string }

func main() {
	var o options
	var brokers, builds, faults, sessions, streamsSes string
	flag.StringVar(&brokers, "brokers", "127.0.0.1:19092", "Kafka bootstrap brokers, comma-separated")
	flag.StringVar(&o.redisAddr, "redis-addr", "127.0.0.1:16379", "Redis host:port, for stats-processor")
	flag.Float64Var(&o.rate, "rate", 5000, "events per second")
	flag.IntVar(&o.partitions, "partitions", 6, "input partitions")
	flag.DurationVar(&o.window, "window", time.Second, "window size of every system: short, so that the next window closed measures the outage")
	flag.IntVar(&o.instances, "instances", 3, "stats-processor instances per run")
	flag.StringVar(&builds, "processors", "main=bin/stats-processor",
		"stats-processor builds, comma-separated label=path; each runs every fault and session timeout")
	flag.StringVar(&faults, "faults", "kill-holder,kill-other,term-holder,term-other",
		"faults, one run each: kill-holder (SIGKILL of the closer lease holder), kill-other (of an instance without it), term-holder, term-other (SIGTERM)")
	flag.StringVar(&sessions, "session-timeouts", "10s,6s", "stats-processor kafka.session_timeout values, one run of each fault each")
	flag.DurationVar(&o.idle, "idle-timeout", time.Minute, "stats-processor watermark.idle_timeout: longer than any outage, so that no partition is left out as idle")
	flag.DurationVar(&o.warmup, "warmup", 20*time.Second, "load before the fault")
	flag.DurationVar(&o.after, "observe", 40*time.Second, "load after the fault (at least the session timeout + 20 s)")
	flag.DurationVar(&o.settle, "settle", 5*time.Second, "wait after stats-processor answers /readyz before loading")
	flag.DurationVar(&o.wait, "wait", 60*time.Second, "how long to wait for missing window records after the loader stops")
	flag.StringVar(&o.streamsCP, "streams-cp", "", "class path of the Kafka Streams reference (empty: no Streams runs)")
	flag.StringVar(&o.streamsVer, "streams-name", "Kafka Streams", "the Kafka Streams rows' name")
	flag.IntVar(&o.streamsN, "streams-instances", 2, "Kafka Streams instances per run (same application id); the first is killed")
	flag.StringVar(&streamsSes, "streams-session-timeouts", "0,6s", "Kafka Streams consumer session timeouts (0: the client's default, 45 s)")
	flag.StringVar(&o.javaHeap, "java-heap", "1g", "heap of each Kafka Streams instance")
	flag.DurationVar(&o.jvmSettle, "jvm-settle", 30*time.Second, "wait after starting the Kafka Streams instances before loading")
	flag.StringVar(&o.out, "out", "out/bench-failover", "directory for logs, results.md and cleanup.env")
	flag.StringVar(&o.doc, "doc", "docs/capacity.md", "file whose Failover section gets the results (empty: none)")
	flag.StringVar(&o.command, "command", "make bench-failover", "the command named with the results")
	flag.Parse()
	o.brokers = strings.Split(brokers, ",")
	o.run = time.Now().UTC().Format("20060102-150405")
	rev := commit() // before the run, which may take a quarter of an hour
	var err error
	if o.builds, err = parseBuilds(builds); err == nil {
		o.faults = strings.Split(faults, ",")
		for _, f := range o.faults {
			if _, _, err = parseFault(f); err != nil {
				break
			}
		}
	}
	if err == nil {
		o.sessions, err = parseDurations(sessions)
	}
	if err == nil {
		o.streamsSes, err = parseDurations(streamsSes)
	}
	if err == nil && (o.rate <= 0 || o.partitions <= 0 || o.instances < 2 || o.window <= 0 || o.streamsN < 2) {
		err = fmt.Errorf("-rate, -partitions and -window must be positive, -instances and -streams-instances at least 2")
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "failover:", err)
		os.Exit(2)
	}
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, "failover:", err)
		os.Exit(1)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	var results []result
	failed := false
	cl := &live.Cleanup{}
	note := func(r result, err error) {
		if err != nil {
			fmt.Fprintf(os.Stderr, "failover: %s: %v\n", r.name(), err)
			r.ok, r.check = false, "**did not run**: "+err.Error()
		}
		fmt.Fprintln(os.Stderr, "  "+r.line())
		results = append(results, r)
		failed = failed || !r.ok
	}
	for _, b := range o.builds {
		for _, s := range o.sessions {
			for _, f := range o.faults {
				if ctx.Err() != nil {
					break
				}
				note(runOurs(ctx, o, b, s, f, cl))
			}
		}
	}
	if o.streamsCP != "" {
		for _, s := range o.streamsSes {
			if ctx.Err() != nil {
				break
			}
			note(runStreams(ctx, o, s, cl))
		}
	}
	if err := cl.Write(filepath.Join(o.out, "cleanup.env")); err != nil {
		fmt.Fprintln(os.Stderr, "failover:", err)
	}
	report := render(o, results, rev)
	fmt.Print(report)
	if err := os.WriteFile(filepath.Join(o.out, "results.md"), []byte(report), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "failover:", err)
		failed = true
	}
	if o.doc != "" {
		if err := appendSection(o.doc, "Failover", failoverIntro, report); err != nil {
			fmt.Fprintln(os.Stderr, "failover:", err)
			failed = true
		}
	}
	if failed {
		fmt.Fprintln(os.Stderr, "failover: FAILED: a run did not complete, a window record is missing, or our counts differ from what was sent (see above)")
		os.Exit(1)
	}
}

func parseBuilds(s string) ([]build, error) {
	var out []build
	for _, part := range strings.Split(s, ",") {
		label, bin, ok := strings.Cut(part, "=")
		if !ok || label == "" || bin == "" {
			return nil, fmt.Errorf("-processors: %q is not label=path", part)
		}
		if _, err := os.Stat(bin); err != nil {
			return nil, fmt.Errorf("-processors: %s: %w (make build writes bin/stats-processor)", label, err)
		}
		out = append(out, build{label, bin})
	}
	return out, nil
}

func parseDurations(s string) ([]time.Duration, error) {
	var out []time.Duration
	for _, part := range strings.Split(s, ",") {
		if part == "0" {
			out = append(out, 0)
			continue
		}
		d, err := time.ParseDuration(part)
		if err != nil {
			return nil, fmt.Errorf("%q is not a duration: %w", part, err)
		}
		out = append(out, d)
	}
	return out, nil
}

// commit is the checked-out commit, with "-dirty" when the tree has changes.
func commit() string {
	rev, err := exec.Command("git", "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		return "unknown"
	}
	c := strings.TrimSpace(string(rev))
	if st, err := exec.Command("git", "status", "--porcelain", "--untracked-files=no").Output(); err == nil && len(st) > 0 {
		c += "-dirty"
	}
	return c
}

func step(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "\n== %s %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}
