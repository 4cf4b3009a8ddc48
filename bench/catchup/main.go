// Command catchup measures stats-processor catching up on a preloaded topic:
// it loads N in-order events over P partitions, starts the built processor at
// `earliest`, and reports events/s until every input record was counted and
// until the last window record is on the output topic, with the process's
// peak RSS and CPU seconds. It checks every window count against the loaded
// data. Run it through `make bench-catchup`.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/vehicle-stats/vehicle-stats/internal/testenv"
	"github.com/vehicle-stats/vehicle-stats/pkg/model"
	"github.com/vehicle-stats/vehicle-stats/pkg/serde"
)

func main() {
	var (
		brokers    = flag.String("brokers", os.Getenv("VS_KAFKA_BROKERS"), "Kafka brokers")
		redisAddr  = flag.String("redis", os.Getenv("VS_REDIS_ADDR"), "Redis address")
		events     = flag.Int("events", 2_000_000, "events to load")
		partitions = flag.Int("partitions", 6, "input partitions")
		bin        = flag.String("bin", "bin/stats-processor", "processor binary")
		idle       = flag.Duration("idle", time.Second, "watermark.idle_timeout for the run")
		cpuprofile = flag.String("cpuprofile", "", "write a CPU profile of the catch-up to this file")
		allocs     = flag.String("allocprofile", "", "write an allocation profile after the catch-up to this file")
	)
	flag.Parse()
	if *brokers == "" || *redisAddr == "" {
		fail("set -brokers and -redis (or VS_KAFKA_BROKERS / VS_REDIS_ADDR: `eval \"$(deploy/local/stack.sh env)\"`)")
	}
	ctx := context.Background()
	bl := strings.Split(*brokers, ",")
	in, out, dead := testenv.UniqueName("catchup-in"), testenv.UniqueName("catchup-out"), testenv.UniqueName("catchup-dead")
	for _, t := range []struct {
		name string
		n    int
	}{{in, *partitions}, {out, 1}, {dead, 1}} {
		if err := testenv.CreateTopic(ctx, bl, t.name, t.n); err != nil {
			fail("create topic: %v", err)
		}
	}
	defer deleteTopics(bl, in, out, dead)

	want, size := load(ctx, bl, in, *events, *partitions)

	port, pprofPort := freePort(), freePort()
	prefix := testenv.UniqueName("catchup")
	cfg := testenv.ProcessorConfig{
		Brokers: bl, RedisAddr: *redisAddr, KeyPrefix: prefix, Input: in, Output: out, DeadLetter: dead, Group: prefix,
		Earliest: true, IdleTimeout: *idle, HTTPAddr: "127.0.0.1:" + strconv.Itoa(port),
		Extra: []string{"PROCESSOR_HTTP_PPROF=true", "PROCESSOR_HTTP_PPROF_ADDR=127.0.0.1:" + strconv.Itoa(pprofPort), "PROCESSOR_LOG_LEVEL=warn"},
	}
	t0 := time.Now()
	proc, err := testenv.StartProcess("catchup-processor", *bin, testenv.Launch{Args: []string{"--config", "/dev/null"}, Env: cfg.Env()})
	if err != nil {
		fail("%v (run `make build` first)", err)
	}
	defer func() {
		_ = proc.Stop(30 * time.Second)
		cleanRedis(*redisAddr, prefix)
	}()
	base := "http://127.0.0.1:" + strconv.Itoa(port)
	prof := "http://127.0.0.1:" + strconv.Itoa(pprofPort) // the profiler's own listener
	var profDone chan struct{}
	if *cpuprofile != "" {
		profDone = make(chan struct{})
		go func() {
			defer close(profDone)
			waitHTTP(base)
			fetchTo(prof+"/debug/pprof/profile?seconds=10", *cpuprofile)
		}()
	}

	fmt.Fprintf(os.Stderr, "catchup: processor started, counting %d events over %d partitions\n", *events, *partitions)
	var tCounted time.Duration
	seen := map[string][]byte{}
	var offset int64
	lastReport := time.Now()
	for {
		if tCounted == 0 {
			if n := countedEvents(base); n >= int64(*events) {
				tCounted = time.Since(t0)
				fmt.Fprintf(os.Stderr, "catchup: all %d events counted after %.2f s; waiting for the last windows to close\n", n, tCounted.Seconds())
			} else if time.Since(lastReport) > 2*time.Second {
				fmt.Fprintf(os.Stderr, "catchup: %d events counted (%.0f s)\n", n, time.Since(t0).Seconds())
				lastReport = time.Now()
			}
		}
		offset = readOutput(ctx, bl, out, offset, seen)
		if len(seen) >= len(want) {
			break
		}
		if time.Since(t0) > 10*time.Minute {
			fail("timed out: %d of %d window records after 10 minutes", len(seen), len(want))
		}
		time.Sleep(20 * time.Millisecond)
	}
	tLast := time.Since(t0)
	rss, cpu := procStats(proc.Pid())
	if *allocs != "" {
		fetchTo(prof+"/debug/pprof/allocs", *allocs)
	}
	if profDone != nil {
		<-profDone
	}

	bad := 0
	for k, v := range seen {
		st, err := serde.StatisticsCodec{}.Decode(v)
		if err != nil || st.Count != want[k] {
			bad++
			fmt.Fprintf(os.Stderr, "catchup: window %s: got %s, want count %d\n", k, v, want[k])
		}
	}
	_ = size
	fmt.Printf("\nstats-processor catch-up: %d events, %d partitions, %d window records (idle timeout %s)\n", *events, *partitions, len(want), idle)
	fmt.Printf("  %-38s %10.2f s  %12.0f events/s\n", "all input counted", tCounted.Seconds(), float64(*events)/tCounted.Seconds())
	fmt.Printf("  %-38s %10.2f s  %12.0f events/s\n", "last window record on the output topic", tLast.Seconds(), float64(*events)/tLast.Seconds())
	fmt.Printf("  %-38s %10.1f MiB\n", "peak RSS", float64(rss)/1024)
	fmt.Printf("  %-38s %10.2f s\n", "CPU (user+sys)", cpu)
	if bad > 0 {
		fail("%d window counts differ from the loaded data", bad)
	}
	fmt.Printf("  every window count equals the loaded data\n")
}

// load writes n events, in event-time order within each partition, 10 ms
// apart, starting six hours ago; it returns the expected count per output key.
func load(ctx context.Context, brokers []string, topic string, n, partitions int) (map[string]int64, int) {
	start := time.Now()
	w := &kafka.Writer{
		Addr: kafka.TCP(brokers...), Topic: topic, RequiredAcks: kafka.RequireAll,
		Balancer: kafka.BalancerFunc(func(m kafka.Message, _ ...int) int {
			return int(m.Headers[0].Value[0])
		}),
		BatchSize: 10_000, BatchBytes: 1 << 20, BatchTimeout: 5 * time.Millisecond,
	}
	defer w.Close()
	rng := rand.New(rand.NewPCG(42, 42))
	base := time.Now().Add(-6 * time.Hour).UnixMilli()
	want := map[string]int64{}
	types := model.VehicleTypes()
	const chunk = 60_000
	msgs := make([]kafka.Message, 0, chunk)
	size := 0
	for i := range n {
		p := i % partitions
		et := base + int64(i/partitions)*10
		r := rng.IntN(1000)
		typ := types[0]
		switch {
		case r < 110:
			typ = types[1]
		case r < 115:
			typ = types[2]
		case r < 125:
			typ = types[3]
		case r < 130:
			typ = types[4]
		}
		plate := fmt.Sprintf("CA%04dAB", rng.IntN(10000))
		v := serde.AppendVehicle(nil, model.Vehicle{PlateNumber: plate, VignetteStickerID: "5f0c6c1e-5a9d-4a8e-9a55-0f7a5c0e8f11",
			Timestamp: model.TimeFromMillis(et), VehicleType: typ})
		size += len(v)
		msgs = append(msgs, kafka.Message{Key: []byte(plate), Value: v, Headers: []kafka.Header{{Key: "p", Value: []byte{byte(p)}}}})
		want[fmt.Sprintf("%s:%d", typ, model.WindowStart(et, 20_000))]++
		if len(msgs) == chunk || i == n-1 {
			if err := w.WriteMessages(ctx, msgs...); err != nil {
				var we kafka.WriteErrors
				if errors.As(err, &we) && len(we) > 0 {
					err = fmt.Errorf("%d of %d records failed, first: %w", we.Count(), len(we), firstErr(we))
				}
				fail("load: %v", err)
			}
			msgs = msgs[:0]
			fmt.Fprintf(os.Stderr, "catchup: loaded %d/%d events (%.0f s)\n", i+1, n, time.Since(start).Seconds())
		}
	}
	fmt.Fprintf(os.Stderr, "catchup: loaded %d events (%.1f MB, %.0f B/event) in %.1f s\n", n, float64(size)/1e6, float64(size)/float64(n), time.Since(start).Seconds())
	return want, size / n
}

func firstErr(we kafka.WriteErrors) error {
	for _, e := range we {
		if e != nil {
			return e
		}
	}
	return nil
}

func readOutput(ctx context.Context, brokers []string, topic string, offset int64, seen map[string][]byte) int64 {
	conn, err := kafka.DialLeader(ctx, "tcp", brokers[0], topic, 0)
	if err != nil {
		return offset
	}
	defer conn.Close()
	last, err := conn.ReadLastOffset()
	if err != nil || last <= offset {
		return offset
	}
	conn.Seek(offset, kafka.SeekAbsolute)
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	b := conn.ReadBatch(1, 16<<20)
	defer b.Close()
	for {
		m, err := b.ReadMessage()
		if err != nil {
			return offset
		}
		seen[string(m.Key)] = m.Value
		offset = m.Offset + 1
	}
}

func countedEvents(base string) int64 {
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	var n float64
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		for _, prefix := range []string{"stats_processor_events_total{", "stats_processor_late_events_total ", "stats_processor_dead_letters_total "} {
			if strings.HasPrefix(line, prefix) {
				f := strings.Fields(line)
				v, _ := strconv.ParseFloat(f[len(f)-1], 64)
				n += v
			}
		}
	}
	return int64(n)
}

// procStats returns peak RSS (KiB) and CPU seconds of a running process.
func procStats(pid int) (int64, float64) {
	var rss int64
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid)); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "VmHWM:") {
				rss, _ = strconv.ParseInt(strings.Fields(l)[1], 10, 64)
			}
		}
	}
	var cpu float64
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil {
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
		ut, _ := strconv.ParseFloat(f[11], 64)
		st, _ := strconv.ParseFloat(f[12], 64)
		cpu = (ut + st) / 100 // USER_HZ
	}
	return rss, cpu
}

func waitHTTP(base string) {
	for range 200 {
		if resp, err := http.Get(base + "/healthz"); err == nil {
			resp.Body.Close()
			return
		}
		time.Sleep(25 * time.Millisecond)
	}
}

func fetchTo(url, path string) {
	resp, err := http.Get(url)
	if err != nil {
		fmt.Fprintf(os.Stderr, "catchup: profile: %v\n", err)
		return
	}
	defer resp.Body.Close()
	_ = os.MkdirAll(filepath.Dir(path), 0o755)
	f, err := os.Create(path)
	if err != nil {
		fmt.Fprintf(os.Stderr, "catchup: profile: %v\n", err)
		return
	}
	defer f.Close()
	io.Copy(f, resp.Body)
	fmt.Fprintf(os.Stderr, "catchup: profile written to %s\n", path)
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
	c.DeleteTopics(ctx, &kafka.DeleteTopicsRequest{Topics: topics})
}

func cleanRedis(addr, prefix string) {
	out, err := exec.Command("redis-cli", "-h", strings.Split(addr, ":")[0], "-p", strings.Split(addr, ":")[1], "--scan", "--pattern", prefix+"*").Output()
	if err != nil {
		return
	}
	keys := strings.Fields(string(out))
	if len(keys) > 0 {
		exec.Command("redis-cli", append([]string{"-h", strings.Split(addr, ":")[0], "-p", strings.Split(addr, ":")[1], "del"}, keys...)...).Run()
	}
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "catchup: "+format+"\n", args...)
	os.Exit(1)
}
