// Command scaleout measures how stats-processor's catch-up scales with
// instances: it loads N in-order events over P partitions once, then for
// each instance count in -instances starts that many processors in one
// consumer group (all at once, at `earliest`, with a fresh output topic and
// key prefix each time) and measures until every window record is on the
// output topic. Per row: events/s, the CPU seconds of all instances per
// million events, and the Redis commands the row cost (INFO's
// total_commands_processed and commandstats, before and after). Every
// window count is checked against the loaded data. Run it through
// `make bench-scaleout`; docs/capacity.md has the figures.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/vehicle-stats/vehicle-stats/bench/internal/preload"
	"github.com/vehicle-stats/vehicle-stats/internal/contracttest"
	"github.com/vehicle-stats/vehicle-stats/internal/testenv/proc"
	"github.com/vehicle-stats/vehicle-stats/internal/testenv/scratch"
)

func main() {
	var (
		brokers    = flag.String("brokers", os.Getenv("VS_KAFKA_BROKERS"), "Kafka brokers")
		redisAddr  = flag.String("redis", os.Getenv("VS_REDIS_ADDR"), "Redis address")
		events     = flag.Int("events", 4_800_000, "events to load")
		partitions = flag.Int("partitions", 12, "input partitions")
		instances  = flag.String("instances", "1,2,3,6", "instance counts, one row each, comma-separated")
		bin        = flag.String("bin", "bin/stats-processor", "processor binary")
		idle       = flag.Duration("idle", time.Second, "watermark.idle_timeout for the run")
	)
	flag.Parse()
	rows, err := run(*brokers, *redisAddr, *bin, *instances, *events, *partitions, *idle)
	if err != nil {
		fmt.Fprintf(os.Stderr, "scaleout: %v\n", err)
		os.Exit(1)
	}
	cpus := 0
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		cpus = strings.Count(string(b), "\nprocessor") + 1
	}
	fmt.Printf("\nstats-processor scale-out: %d events over %d partitions, idle timeout %s, %d CPUs\n", *events, *partitions, *idle, cpus)
	fmt.Printf("| instances | all counted | events/s | last record | CPU s (all instances) | CPU s per M events | Redis commands | Redis commands/s | Redis commands per 1k events | events counted incl. replays | rebalances |\n")
	fmt.Printf("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range rows {
		fmt.Printf("| %d | %.2f s | %.0f | %.2f s | %.2f | %.2f | %d | %.0f | %.2f | %.3f× | %d |\n",
			r.instances, r.counted.Seconds(), float64(*events)/r.counted.Seconds(), r.last.Seconds(), r.cpu,
			r.cpu/float64(*events)*1e6, r.redisCmds, float64(r.redisCmds)/r.last.Seconds(),
			float64(r.redisCmds)/float64(*events)*1000, r.countedTotal/float64(*events), int(r.rebalances))
	}
	for _, r := range rows {
		fmt.Printf("redis commands with %d instances: %s\n", r.instances, r.byCommand)
	}
}

// run loads the input once and measures one row per instance count; the
// input topic is deleted when it returns, failed or not.
func run(brokers, redisAddr, bin, instances string, events, partitions int, idle time.Duration) ([]row, error) {
	if brokers == "" || redisAddr == "" {
		return nil, errors.New("set -brokers and -redis (or VS_KAFKA_BROKERS / VS_REDIS_ADDR: `eval \"$(deploy/local/stack.sh env)\"`)")
	}
	var counts []int
	for _, f := range strings.Split(instances, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("-instances: %q is not a positive number", f)
		}
		counts = append(counts, n)
	}
	ctx := context.Background()
	bl := strings.Split(brokers, ",")
	in := scratch.UniqueName("scaleout-in")
	if err := scratch.CreateTopic(ctx, bl, in, partitions); err != nil {
		return nil, fmt.Errorf("create topic: %w", err)
	}
	defer preload.DeleteTopics(bl, in)
	data, err := preload.Load(ctx, bl, in, events, partitions, 16, prefixed{os.Stderr})
	if err != nil {
		return nil, err
	}
	rdb := redis.NewClient(&redis.Options{Addr: redisAddr})
	defer rdb.Close()

	var rows []row
	for _, n := range counts {
		r, err := measure(ctx, bl, rdb, bin, in, partitions, n, events, idle, data.Want)
		if err != nil {
			return nil, fmt.Errorf("%d instances: %w", n, err)
		}
		rows = append(rows, r)
		fmt.Fprintf(os.Stderr, "scaleout: %d instances done in %.2f s\n", n, r.last.Seconds())
	}
	return rows, nil
}

type row struct {
	instances     int
	counted, last time.Duration
	cpu           float64
	redisCmds     int64
	byCommand     string
	countedTotal  float64
	rebalances    float64
}

// measure runs one row: n processors on a fresh output topic and key
// prefix, until every expected window record is on the output topic.
func measure(ctx context.Context, brokers []string, rdb *redis.Client, bin, in string, partitions, n, events int, idle time.Duration, want map[contracttest.Key]int64) (row, error) {
	r := row{instances: n}
	out, dead := scratch.UniqueName("scaleout-out"), scratch.UniqueName("scaleout-dead")
	for _, t := range []string{out, dead} {
		if err := scratch.CreateTopic(ctx, brokers, t, 1); err != nil {
			return r, fmt.Errorf("create topic: %w", err)
		}
	}
	defer preload.DeleteTopics(brokers, out, dead)
	prefix := scratch.UniqueName("scaleout")
	defer preload.CleanRedis(rdb, prefix)

	before, err := commandStats(ctx, rdb)
	if err != nil {
		return r, err
	}
	var procs []*proc.Service
	var bases []string
	defer func() {
		for _, p := range procs {
			_ = p.Stop(30 * time.Second)
		}
	}()
	t0 := time.Now()
	for i := range n {
		cfg := proc.ProcessorConfig{
			Brokers: brokers, RedisAddr: rdb.Options().Addr, KeyPrefix: prefix, Input: in, Output: out, DeadLetter: dead, Group: prefix,
			Earliest: true, IdleTimeout: idle, InstanceID: fmt.Sprintf("scaleout-%d", i),
			Extra: []string{"PROCESSOR_LOG_LEVEL=warn"},
		}
		p, err := proc.ExecProcessor(bin, "", cfg)
		if err != nil {
			return r, err
		}
		procs = append(procs, p)
		bases = append(bases, "http://"+p.Addr)
	}
	output := preload.NewOutput(brokers, out)
	for {
		if r.counted == 0 {
			if total := preload.SumMetrics(bases, preload.CountedNames...); total >= float64(events) {
				r.counted = time.Since(t0)
			}
		}
		output.Poll(ctx)
		if output.Keys() >= len(want) {
			break
		}
		for _, p := range procs {
			select {
			case <-p.Done():
				return r, fmt.Errorf("%s exited: %v\n%s", p.Name, p.Err(), p.Tail(20))
			default:
			}
		}
		if time.Since(t0) > 10*time.Minute {
			return r, fmt.Errorf("timed out: %d of %d window records after 10 minutes", output.Keys(), len(want))
		}
		time.Sleep(20 * time.Millisecond)
	}
	r.last = time.Since(t0)
	if r.counted == 0 {
		r.counted = r.last
	}
	for _, p := range procs {
		_, cpu := preload.ProcStats(p.Pid())
		r.cpu += cpu
	}
	after, err := commandStats(ctx, rdb)
	if err != nil {
		return r, err
	}
	r.redisCmds = after["total"] - before["total"] - (after["info"] - before["info"]) // not this tool's INFO
	r.byCommand = diffCommands(before, after)
	r.countedTotal = preload.SumMetrics(bases, preload.CountedNames...)
	r.rebalances = preload.SumMetrics(bases, "stats_processor_rebalances_total")
	if lines, bad := output.Check(want); bad > 0 {
		return r, fmt.Errorf("%d window records differ from the loaded data:\n%s", bad, strings.Join(lines, "\n"))
	}
	return r, nil
}

// commandStats reads INFO's total_commands_processed ("total") and each
// command's calls from commandstats.
func commandStats(ctx context.Context, rdb *redis.Client) (map[string]int64, error) {
	info, err := rdb.Info(ctx, "stats", "commandstats").Result()
	if err != nil {
		return nil, fmt.Errorf("redis info: %w", err)
	}
	out := map[string]int64{}
	for _, line := range strings.Split(info, "\n") {
		line = strings.TrimSpace(line)
		if v, ok := strings.CutPrefix(line, "total_commands_processed:"); ok {
			out["total"], _ = strconv.ParseInt(v, 10, 64)
		}
		if rest, ok := strings.CutPrefix(line, "cmdstat_"); ok {
			name, fields, _ := strings.Cut(rest, ":")
			for _, f := range strings.Split(fields, ",") {
				if v, ok := strings.CutPrefix(f, "calls="); ok {
					out[name], _ = strconv.ParseInt(v, 10, 64)
				}
			}
		}
	}
	return out, nil
}

// diffCommands lists the commands called between two commandStats, most
// called first, without this tool's own INFO.
func diffCommands(before, after map[string]int64) string {
	type c struct {
		name string
		n    int64
	}
	var cs []c
	for k, v := range after {
		if k == "total" || k == "info" {
			continue
		}
		if d := v - before[k]; d > 0 {
			cs = append(cs, c{k, d})
		}
	}
	sort.Slice(cs, func(i, j int) bool { return cs[i].n > cs[j].n })
	var parts []string
	for _, x := range cs {
		parts = append(parts, fmt.Sprintf("%s %d", x.name, x.n))
	}
	return strings.Join(parts, ", ")
}

// prefixed writes each line with the tool's name in front.
type prefixed struct{ w io.Writer }

func (p prefixed) Write(b []byte) (int, error) {
	if _, err := fmt.Fprintf(p.w, "scaleout: %s", b); err != nil {
		return 0, err
	}
	return len(b), nil
}
