package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vehicle-stats/vehicle-stats/bench/internal/live"
	"github.com/vehicle-stats/vehicle-stats/internal/testenv/proc"
)

// row is one system's line of the table.
type row struct {
	system, settings string
	held             float64
	sent             int64
	maxBehind        time.Duration
	windows, records int
	p50, p95, p99    time.Duration
	max              time.Duration
	ok               bool
	check            string

	// For bench-sustain: the measured records' latencies, whether every
	// measured window arrived, and what the system's processes used from the
	// load's start until its last window arrived (over cpuWall).
	points   []live.Point
	complete bool
	usage    live.Usage
	cpuWall  time.Duration
	// For ours: what the Redis servers did over the same time, the CPU of
	// their processes and the commands they processed (for the local
	// stack's shared Redis, other users' commands included).
	redis redisUsage
}

// redisUsage is what the Redis servers of a row did during its load.
type redisUsage struct {
	servers  int // 0: not measured
	cpu      time.Duration
	commands int64
}

// javaOpens are the module options Flink needs on Java 17 (Flink's own
// env.java.opts.all default), as bench/compare/run.sh passes them.
var javaOpens = []string{
	"--add-exports=java.base/sun.net.util=ALL-UNNAMED",
	"--add-exports=java.rmi/sun.rmi.registry=ALL-UNNAMED",
	"--add-exports=java.security.jgss/sun.security.krb5=ALL-UNNAMED",
	"--add-opens=java.base/java.lang=ALL-UNNAMED",
	"--add-opens=java.base/java.net=ALL-UNNAMED",
	"--add-opens=java.base/java.io=ALL-UNNAMED",
	"--add-opens=java.base/java.nio=ALL-UNNAMED",
	"--add-opens=java.base/sun.nio.ch=ALL-UNNAMED",
	"--add-opens=java.base/java.lang.reflect=ALL-UNNAMED",
	"--add-opens=java.base/java.text=ALL-UNNAMED",
	"--add-opens=java.base/java.time=ALL-UNNAMED",
	"--add-opens=java.base/java.util=ALL-UNNAMED",
	"--add-opens=java.base/java.util.concurrent=ALL-UNNAMED",
	"--add-opens=java.base/java.util.concurrent.atomic=ALL-UNNAMED",
	"--add-opens=java.base/java.util.concurrent.locks=ALL-UNNAMED",
}

// measure runs one system through one load and returns its row.
func measure(ctx context.Context, o options, system string, cl *live.Cleanup) (row, error) {
	tag := strings.NewReplacer(":", "-").Replace(system)
	base := "bench-lat-" + tag + "-" + o.run
	in, out := base+"-in", base+"-out"
	if err := cl.CreateTopics(ctx, o.brokers, map[string]int{in: o.partitions, out: 1}); err != nil {
		return row{}, err
	}
	logf := func(n string) string { return filepath.Join(o.out, o.run+"-"+n+".log") }
	var procs []*proc.Process
	var cluster *localCluster // ours-cluster: stopped after the processors
	defer func() {
		for _, p := range procs {
			// A JVM ends with 143 (128 + SIGTERM) when its shutdown hooks have run: a clean stop.
			if err := p.Stop(30 * time.Second); err != nil && p.ExitCode() != 143 {
				fmt.Fprintf(os.Stderr, "  %v\n", err)
			}
		}
		if cluster != nil {
			cluster.stop()
		}
	}()
	start := func(name, bin string, l proc.Launch) error {
		l.LogPath = logf(name)
		p, err := proc.StartProcess(name, bin, l)
		if err != nil {
			return err
		}
		procs = append(procs, p)
		return nil
	}
	r := row{system: system}
	kind, arg, _ := strings.Cut(system, ":")
	settle := o.jvmSettle
	var redisAddrs []string // ours: the Redis servers whose load the row shows
	switch kind {
	case "ours", "ours-cluster":
		n, err := strconv.Atoi(arg)
		if err != nil || n < 1 {
			return row{}, fmt.Errorf("%s:N needs a number of instances, not %q", kind, arg)
		}
		dead := base + "-dead"
		if err := cl.CreateTopics(ctx, o.brokers, map[string]int{dead: 1}); err != nil {
			return row{}, err
		}
		cl.Groups = append(cl.Groups, base)
		cfg := proc.ProcessorConfig{
			Brokers: o.brokers, RedisAddr: o.redisAddr, KeyPrefix: base,
			Input: in, Output: out, DeadLetter: dead, Group: base, Earliest: true,
			Window: o.window, IdleTimeout: 30 * time.Second,
		}
		redisAddrs = []string{o.redisAddr}
		if kind == "ours-cluster" {
			// A cluster of its own for the step, gone with its keys after it.
			if cluster, err = startLocalCluster(ctx, filepath.Join(o.out, o.run+"-redis-cluster"), clusterMasters); err != nil {
				return row{}, err
			}
			redisAddrs = cluster.Addrs
			cfg.RedisAddr = strings.Join(cluster.Addrs, ",")
			cfg.Extra = append(cfg.Extra, "PROCESSOR_REDIS_CLUSTER=true")
		} else {
			cl.RedisPrefixes = append(cl.RedisPrefixes, base)
		}
		var names []string
		for i := range n {
			names = append(names, fmt.Sprintf("%s-%d", tag, i+1))
		}
		started, err := live.StartOurs(ctx, o.processor, cfg, names, logf)
		procs = append(procs, started...)
		if err != nil {
			return row{}, err
		}
		settle = o.settle
		r.settings = fmt.Sprintf("%d instance(s); window %s, max_out_of_orderness 0, idle_timeout 30s, checkpoint.interval default; acks=all, exact counts, a key never written with two values (a crash may repeat one byte for byte); no Kafka transactions", n, o.window)
		r.system = fmt.Sprintf("**stats-processor (ours), %d instance(s)**", n)
		if kind == "ours-cluster" {
			r.system = fmt.Sprintf("**stats-processor (ours), %d instance(s), Redis Cluster of %d masters**", n, clusterMasters)
			r.settings += fmt.Sprintf("; Redis Cluster of %d local redis-server masters (no replicas, AOF fsync every second, as the single Redis)", clusterMasters)
		}
		if o.procNote != "" {
			r.system += " (" + o.procNote + ")"
		}
	case "flink":
		if o.flinkCP == "" {
			return row{}, fmt.Errorf("no -flink-cp")
		}
		cl.Groups = append(cl.Groups, base)
		args := append(append([]string{"-Xmx" + o.javaHeap}, javaOpens...),
			"-Dorg.slf4j.simpleLogger.defaultLogLevel=warn", "-cp", o.flinkCP, "io.vehiclestats.bench.VehicleStatisticsLiveJob",
			"--brokers", strings.Join(o.brokers, ","), "--input", in, "--output", out, "--group", base,
			"--parallelism", strconv.Itoa(o.flinkPar), "--window-ms", strconv.FormatInt(o.window.Milliseconds(), 10),
			"--watermark-ms", "200", "--delivery", arg, "--checkpoint-ms", strconv.FormatInt(o.eosCkpt.Milliseconds(), 10))
		if err := start(tag, "java", proc.Launch{Args: args}); err != nil {
			return row{}, err
		}
		r.system = fmt.Sprintf("%s, %s sink", o.flinkName, arg)
		r.settings = fmt.Sprintf("parallelism %d, -Xmx%s, forMonotonousTimestamps, watermarks every 200 ms, no withIdleness", o.flinkPar, o.javaHeap)
		switch arg {
		case "at-least-once":
			r.settings += "; at-least-once KafkaSink, no checkpoints"
		case "exactly-once":
			r.settings += fmt.Sprintf("; exactly-once (transactional) KafkaSink, checkpoints every %s: records are visible (read_committed) at the next checkpoint", o.eosCkpt)
		default:
			return row{}, fmt.Errorf("flink:%s: the delivery is at-least-once or exactly-once", arg)
		}
	case "streams":
		if o.streamsCP == "" {
			return row{}, fmt.Errorf("no -streams-cp")
		}
		app := base + "-app" // its internal topics are named <app>-…
		cl.Groups = append(cl.Groups, app)
		cl.TopicPrefixes = append(cl.TopicPrefixes, app+"-")
		args := live.Streams{ClassPath: o.streamsCP, Heap: o.javaHeap, Brokers: o.brokers, Input: in, Output: out, AppID: app,
			StateDir: filepath.Join(o.out, o.run+"-"+tag+".state"), Window: o.window}.Args()
		if err := start(tag, "java", proc.Launch{Args: args}); err != nil {
			return row{}, err
		}
		r.system = o.streamsVer + ", exactly_once_v2"
		r.settings = fmt.Sprintf("2 stream threads, -Xmx%s, commit.interval.ms default (100 ms under EOS), ofSizeWithNoGrace, suppress(untilWindowCloses)", o.javaHeap)
	default:
		return row{}, fmt.Errorf("unknown system %q", system)
	}
	step("%s: settle %s, then read %s and load %s", system, settle, out, in)
	select {
	case <-time.After(settle):
	case <-ctx.Done():
		return row{}, ctx.Err()
	}
	for _, p := range procs {
		select {
		case <-p.Done():
			return row{}, fmt.Errorf("%s exited before the load: %v\n%s", p.Name, p.Err(), p.Tail(30))
		default:
		}
	}
	// Start the load where its first (partial, warm-up) window leaves whole
	// windows up to 1 s before its stop: warm-up (DURATION - 1 s) mod window,
	// plus a window when that is under 5 s.
	warm := (o.duration - time.Second) % o.window
	if warm < 5*time.Second {
		warm += o.window
	}
	if o.duration-time.Second-warm < o.window {
		return row{}, fmt.Errorf("-duration %s holds no whole window after a warm-up: use at least %s", o.duration, 2*o.window+time.Second)
	}
	now := time.Now()
	phase := time.Duration(now.UnixMilli()%o.window.Milliseconds()) * time.Millisecond
	delay := (o.window - warm - phase + 2*o.window) % o.window
	step("%s: load starts in %s, %s before a window's end (the warm-up window)", system, delay.Round(time.Millisecond), warm)
	select {
	case <-time.After(delay):
	case <-ctx.Done():
		return row{}, ctx.Err()
	}
	rd := live.NewReader()
	rctx, stopReader := context.WithCancel(ctx)
	defer stopReader()
	go rd.Run(rctx, o.brokers, out)
	pids := make([]int, len(procs))
	for i, p := range procs {
		pids[i] = p.Pid()
	}
	before, uerr := live.ReadUsage(pids)
	redisBefore, rerr := redisLoadOf(ctx, redisAddrs)
	loadStart := time.Now()

	res := live.Load(ctx, o.brokers, in, o.partitions, o.rate, o.duration, o.window)
	fmt.Fprintf(os.Stderr, "  load: %s\n", res.Summary())
	if res.Failed > 0 {
		return r, fmt.Errorf("the loader could not write %d events: %w", res.Failed, res.FirstErr)
	}
	want := live.Whole(res, o.window)
	if len(want) == 0 {
		return r, fmt.Errorf("no whole window between the loader's start %s and stop %s: run for longer than two windows",
			res.Start.Format(time.RFC3339), res.Stop.Format(time.RFC3339))
	}
	deadline := time.Now().Add(o.wait)
	for !rd.Has(want) && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(100 * time.Millisecond)
	}
	stopReader()
	after, err := live.ReadUsage(pids)
	if err := errors.Join(uerr, err); err != nil {
		fmt.Fprintf(os.Stderr, "  CPU and RSS not measured: %v\n", err)
	}
	usage := live.Usage{CPU: after.CPU - before.CPU, PeakRSS: after.PeakRSS}
	redisAfter, err := redisLoadOf(ctx, redisAddrs)
	redisUse, err := redisBefore.until(redisAfter, errors.Join(rerr, err))
	if err != nil {
		fmt.Fprintf(os.Stderr, "  Redis load not measured: %v\n", err)
	}
	usageWall := time.Since(loadStart)
	got, dups, bad, serr := rd.Snapshot()
	if serr != nil {
		return r, serr
	}
	for _, b := range rd.BadOnes() {
		fmt.Fprintf(os.Stderr, "  undecodable output record: %s\n", b)
	}
	// A process that ended by itself (or was ended by something else) makes the row void.
	var exited []string
	for _, p := range procs {
		select {
		case <-p.Done():
			exited = append(exited, fmt.Sprintf("%s exited during the run (%v)", p.Name, p.Err()))
			fmt.Fprintf(os.Stderr, "  %s exited during the run (%v); its log's tail:\n%s\n", p.Name, p.Err(), p.Tail(10))
		default:
		}
	}
	// Stop the system now, so that its log has its final count of late events.
	for _, p := range procs {
		if err := p.Stop(30 * time.Second); err != nil && p.ExitCode() != 143 {
			fmt.Fprintf(os.Stderr, "  %v\n", err)
		}
	}
	procs = nil
	late := int64(-1)
	ours := redisAddrs != nil
	if !ours {
		late = live.LateEvents(logf(tag))
	}
	r = summarize(r, res, want, got, dups, bad, late, ours)
	r.usage, r.cpuWall, r.redis = usage, usageWall, redisUse
	if redisUse.servers > 0 {
		fmt.Fprintf(os.Stderr, "  Redis (%d server(s)): %s\n", redisUse.servers, redisText(r))
	}
	if len(exited) > 0 {
		r.ok = false
		r.check = "**" + strings.Join(exited, "; ") + "**; " + r.check
	}
	return r, nil
}

// summarize fills r's figures from the measured windows' arrivals and
// checks their counts against what the loader sent. A missing or
// undecodable record fails the row; a count that differs fails it when
// strict (ours, whose counts are exact by contract), and otherwise is shown
// next to the late events the system reported itself (late >= 0).
func summarize(r row, res live.LoadResult, want []live.WindowType, got []live.Arrival, dups, bad int, late int64, strict bool) row {
	c := live.Compare(res.Counts, want, got)
	problems := c.Problems
	fatal := c.Fatal || bad > 0
	lat := make([]time.Duration, 0, len(c.Measured))
	r.points = make([]live.Point, 0, len(c.Measured))
	for _, a := range c.Measured {
		lat = append(lat, a.At.Sub(a.End))
		r.points = append(r.points, live.Point{End: a.End, Latency: a.At.Sub(a.End)})
	}
	slices.Sort(lat)
	r.held, r.sent, r.maxBehind = res.Held(), res.Sent, res.MaxBehind
	r.windows, r.records = c.Windows, len(lat)
	if len(lat) > 0 {
		r.p50, r.p95, r.p99, r.max = rank(lat, 0.50), rank(lat, 0.95), rank(lat, 0.99), lat[len(lat)-1]
	}
	total, counted := c.Sent, c.Counted
	r.complete = !fatal
	r.ok = !fatal && (len(problems) == 0 || !strict)
	r.check = fmt.Sprintf("ok: %d events in %d windows", total, c.Windows)
	if len(problems) > 0 || bad > 0 {
		slices.Sort(problems)
		fmt.Fprintf(os.Stderr, "  MISMATCH for %s:\n    %s\n", r.system, strings.Join(problems, "\n    "))
		r.check = fmt.Sprintf("**MISMATCH**: %d problem(s), %d undecodable record(s); %d of %d events counted", len(problems), bad, counted, total)
		if late >= 0 {
			r.check += fmt.Sprintf(" (it reported %d late events in the whole run)", late)
		}
	}
	if dups > 0 {
		r.check += fmt.Sprintf("; %d duplicate record(s)", dups)
	}
	fmt.Fprintf(os.Stderr, "  %s: %d records of %d windows, p50 %s p99 %s max %s; %s\n",
		r.system, r.records, r.windows, ms(r.p50), ms(r.p99), ms(r.max), r.check)
	return r
}

// rank is the q-quantile of sorted lat by the nearest-rank method.
func rank(lat []time.Duration, q float64) time.Duration {
	i := int(float64(len(lat))*q+0.999999) - 1
	return lat[min(max(i, 0), len(lat)-1)]
}

func ms(d time.Duration) string { return strconv.FormatInt(d.Milliseconds(), 10) }

// render is the results table, with how it was measured.
func render(o options, rows []row) string {
	var b strings.Builder
	load, _ := os.ReadFile("/proc/loadavg")
	fmt.Fprintf(&b, "Window emit latency (arrival on the output topic − window end), `make bench-latency RATE=%g DURATION=%s PARTITIONS=%d`, run %s UTC, %d CPUs, load average %s.\n\n",
		o.rate, o.duration, o.partitions, o.run, runtime.NumCPU(), strings.Join(strings.Fields(string(load))[:3], " "))
	b.WriteString("| system | p50 ms | p95 ms | p99 ms | max ms | window records (windows) | rate held, events/s | check | settings |\n")
	b.WriteString("|---|---:|---:|---:|---:|---:|---:|---|---|\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %d (%d) | %.0f (at most %s ms behind) | %s | %s |\n",
			r.system, ms(r.p50), ms(r.p95), ms(r.p99), ms(r.max), r.records, r.windows, r.held, ms(r.maxBehind), r.check, r.settings)
	}
	b.WriteString("\nEvents are stamped with the wall clock as they are sent; measured are the windows that start after the loader's first (partial) window and end at least 1 s before it stops; percentiles by nearest rank over their records.\n")
	return b.String()
}
