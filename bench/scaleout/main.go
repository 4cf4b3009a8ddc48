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
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/segmentio/kafka-go"

	"github.com/vehicle-stats/vehicle-stats/internal/testenv"
	"github.com/vehicle-stats/vehicle-stats/pkg/model"
	"github.com/vehicle-stats/vehicle-stats/pkg/serde"
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
	if *brokers == "" || *redisAddr == "" {
		fail("set -brokers and -redis (or VS_KAFKA_BROKERS / VS_REDIS_ADDR: `eval \"$(deploy/local/stack.sh env)\"`)")
	}
	var counts []int
	for _, f := range strings.Split(*instances, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			fail("-instances: %q is not a positive number", f)
		}
		counts = append(counts, n)
	}
	ctx := context.Background()
	bl := strings.Split(*brokers, ",")
	in := testenv.UniqueName("scaleout-in")
	if err := testenv.CreateTopic(ctx, bl, in, *partitions); err != nil {
		fail("create topic: %v", err)
	}
	defer deleteTopics(bl, in)
	want := load(ctx, bl, in, *events, *partitions)
	rdb := redis.NewClient(&redis.Options{Addr: *redisAddr})
	defer rdb.Close()

	var rows []row
	for _, n := range counts {
		r, err := measure(ctx, bl, rdb, *bin, in, *partitions, n, *events, *idle, want)
		if err != nil {
			fail("%d instances: %v", n, err)
		}
		rows = append(rows, r)
		fmt.Fprintf(os.Stderr, "scaleout: %d instances done in %.2f s\n", n, r.last.Seconds())
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
func measure(ctx context.Context, brokers []string, rdb *redis.Client, bin, in string, partitions, n, events int, idle time.Duration, want map[string]int64) (row, error) {
	r := row{instances: n}
	out, dead := testenv.UniqueName("scaleout-out"), testenv.UniqueName("scaleout-dead")
	for _, t := range []string{out, dead} {
		if err := testenv.CreateTopic(ctx, brokers, t, 1); err != nil {
			return r, fmt.Errorf("create topic: %w", err)
		}
	}
	defer deleteTopics(brokers, out, dead)
	prefix := testenv.UniqueName("scaleout")
	defer cleanRedis(rdb, prefix)

	before, err := commandStats(ctx, rdb)
	if err != nil {
		return r, err
	}
	var procs []*testenv.Process
	var bases []string
	defer func() {
		for _, p := range procs {
			_ = p.Stop(30 * time.Second)
		}
	}()
	t0 := time.Now()
	for i := range n {
		port := freePort()
		cfg := testenv.ProcessorConfig{
			Brokers: brokers, RedisAddr: rdb.Options().Addr, KeyPrefix: prefix, Input: in, Output: out, DeadLetter: dead, Group: prefix,
			Earliest: true, IdleTimeout: idle, HTTPAddr: "127.0.0.1:" + strconv.Itoa(port), InstanceID: fmt.Sprintf("scaleout-%d", i),
			Extra: []string{"PROCESSOR_LOG_LEVEL=warn"},
		}
		p, err := testenv.StartProcess(cfg.InstanceID, bin, testenv.Launch{Args: []string{"--config", "/dev/null"}, Env: cfg.Env()})
		if err != nil {
			return r, fmt.Errorf("%w (run `make build` first)", err)
		}
		procs = append(procs, p)
		bases = append(bases, "http://"+cfg.HTTPAddr)
	}
	seen := map[string][]string{}
	var offset int64
	for {
		if r.counted == 0 {
			if total := sumMetrics(bases, "stats_processor_events_total", "stats_processor_late_events_total", "stats_processor_dead_letters_total"); total >= float64(events) {
				r.counted = time.Since(t0)
			}
		}
		offset = readOutput(ctx, brokers, out, offset, seen)
		if len(seen) >= len(want) {
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
			return r, fmt.Errorf("timed out: %d of %d window records after 10 minutes", len(seen), len(want))
		}
		time.Sleep(20 * time.Millisecond)
	}
	r.last = time.Since(t0)
	if r.counted == 0 {
		r.counted = r.last
	}
	for _, p := range procs {
		r.cpu += cpuSeconds(p.Pid())
	}
	after, err := commandStats(ctx, rdb)
	if err != nil {
		return r, err
	}
	r.redisCmds = after["total"] - before["total"] - (after["info"] - before["info"]) // not this tool's INFO
	r.byCommand = diffCommands(before, after)
	r.countedTotal = sumMetrics(bases, "stats_processor_events_total", "stats_processor_late_events_total", "stats_processor_dead_letters_total")
	r.rebalances = sumMetrics(bases, "stats_processor_rebalances_total")
	for k, vs := range seen {
		if len(vs) != 1 {
			return r, fmt.Errorf("window %s written with %d different values: %v", k, len(vs), vs)
		}
		st, err := serde.StatisticsCodec{}.Decode([]byte(vs[0]))
		if err != nil || st.Count != want[k] {
			return r, fmt.Errorf("window %s: got %s, want count %d", k, vs[0], want[k])
		}
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

// sumMetrics adds the named metrics over every instance's /metrics.
func sumMetrics(bases []string, names ...string) float64 {
	var n float64
	for _, base := range bases {
		resp, err := http.Get(base + "/metrics")
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			line := sc.Text()
			for _, name := range names {
				if strings.HasPrefix(line, name+"{") || strings.HasPrefix(line, name+" ") {
					f := strings.Fields(line)
					v, _ := strconv.ParseFloat(f[len(f)-1], 64)
					n += v
				}
			}
		}
		resp.Body.Close()
	}
	return n
}

// load writes n events, in event-time order within each partition, 10 ms
// apart, starting six hours ago; it returns the expected count per output
// key.
func load(ctx context.Context, brokers []string, topic string, n, partitions int) map[string]int64 {
	start := time.Now()
	w := &kafka.Writer{
		Addr: kafka.TCP(brokers...), Topic: topic, RequiredAcks: kafka.RequireAll,
		Balancer: kafka.BalancerFunc(func(m kafka.Message, _ ...int) int {
			p, _ := strconv.Atoi(string(m.Headers[0].Value))
			return p
		}),
		BatchSize: 10_000, BatchBytes: 1 << 20, BatchTimeout: 5 * time.Millisecond,
	}
	defer w.Close()
	rng := rand.New(rand.NewPCG(16, 16))
	base := time.Now().Add(-6 * time.Hour).UnixMilli()
	want := map[string]int64{}
	types := model.VehicleTypes()
	const chunk = 60_000
	msgs := make([]kafka.Message, 0, chunk)
	for i := range n {
		p := i % partitions
		et := base + int64(i/partitions)*10
		typ := types[0]
		switch r := rng.IntN(1000); {
		case r < 110:
			typ = types[1]
		case r < 120:
			typ = types[2]
		case r < 125:
			typ = types[3]
		case r < 130:
			typ = types[4]
		}
		plate := fmt.Sprintf("CA%04dAB", rng.IntN(10000))
		v := serde.AppendVehicle(nil, model.Vehicle{PlateNumber: plate, VignetteStickerID: "5f0c6c1e-5a9d-4a8e-9a55-0f7a5c0e8f11",
			Timestamp: model.TimeFromMillis(et), VehicleType: typ})
		msgs = append(msgs, kafka.Message{Key: []byte(plate), Value: v, Headers: []kafka.Header{{Key: "p", Value: []byte(strconv.Itoa(p))}}})
		want[fmt.Sprintf("%s:%d", typ, model.WindowStart(et, 20_000))]++
		if len(msgs) == chunk || i == n-1 {
			if err := w.WriteMessages(ctx, msgs...); err != nil {
				var we kafka.WriteErrors
				if errors.As(err, &we) && len(we) > 0 {
					err = fmt.Errorf("%d of %d records failed: %w", we.Count(), len(we), err)
				}
				fail("load: %v", err)
			}
			msgs = msgs[:0]
		}
	}
	fmt.Fprintf(os.Stderr, "scaleout: loaded %d events over %d partitions in %.1f s\n", n, partitions, time.Since(start).Seconds())
	return want
}

// readOutput reads the output topic from offset on into seen (every
// distinct value of each key) and returns the next offset.
func readOutput(ctx context.Context, brokers []string, topic string, offset int64, seen map[string][]string) int64 {
	conn, err := kafka.DialLeader(ctx, "tcp", brokers[0], topic, 0)
	if err != nil {
		return offset
	}
	defer conn.Close()
	last, err := conn.ReadLastOffset()
	if err != nil || last <= offset {
		return offset
	}
	if _, err := conn.Seek(offset, kafka.SeekAbsolute); err != nil {
		return offset
	}
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	b := conn.ReadBatch(1, 16<<20)
	defer b.Close()
	for {
		m, err := b.ReadMessage()
		if err != nil {
			return offset
		}
		k, v := string(m.Key), string(m.Value)
		dup := false
		for _, x := range seen[k] {
			dup = dup || x == v
		}
		if !dup {
			seen[k] = append(seen[k], v)
		}
		offset = m.Offset + 1
	}
}

// cpuSeconds is the user+system CPU time of a running process.
func cpuSeconds(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / 100 // USER_HZ
}

func freePort() int {
	p, err := testenv.FreePort()
	if err != nil {
		fail("%v", err)
	}
	return p
}

func deleteTopics(brokers []string, topics ...string) {
	c := &kafka.Client{Addr: kafka.TCP(brokers...)}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, _ = c.DeleteTopics(ctx, &kafka.DeleteTopicsRequest{Topics: topics})
}

func cleanRedis(rdb *redis.Client, prefix string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	iter := rdb.Scan(ctx, 0, prefix+":*", 1000).Iterator()
	var keys []string
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	if len(keys) > 0 {
		rdb.Del(ctx, keys...)
	}
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "scaleout: "+format+"\n", args...)
	os.Exit(1)
}
