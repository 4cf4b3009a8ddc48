// Command catchup measures stats-processor catching up on a preloaded topic:
// it loads N in-order events over P partitions, starts the built processor at
// `earliest`, and reports events/s until every input record was counted and
// until the last window record is on the output topic, with the process's
// peak RSS and CPU seconds. It checks every window count against the loaded
// data. Run it through `make bench-catchup`.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/vehicle-stats/vehicle-stats/bench/internal/preload"
	"github.com/vehicle-stats/vehicle-stats/internal/testenv/proc"
	"github.com/vehicle-stats/vehicle-stats/internal/testenv/scratch"
)

type options struct {
	brokers, redisAddr        string
	events, partitions        int
	bin                       string
	idle                      time.Duration
	cpuprofile, allocsprofile string
}

func main() {
	var o options
	flag.StringVar(&o.brokers, "brokers", os.Getenv("VS_KAFKA_BROKERS"), "Kafka brokers")
	flag.StringVar(&o.redisAddr, "redis", os.Getenv("VS_REDIS_ADDR"), "Redis address")
	flag.IntVar(&o.events, "events", 2_000_000, "events to load")
	flag.IntVar(&o.partitions, "partitions", 6, "input partitions")
	flag.StringVar(&o.bin, "bin", "bin/stats-processor", "processor binary")
	flag.DurationVar(&o.idle, "idle", time.Second, "watermark.idle_timeout for the run")
	flag.StringVar(&o.cpuprofile, "cpuprofile", "", "write a CPU profile of the catch-up to this file")
	flag.StringVar(&o.allocsprofile, "allocprofile", "", "write an allocation profile after the catch-up to this file")
	flag.Parse()
	if err := run(o); err != nil {
		fmt.Fprintf(os.Stderr, "catchup: %v\n", err)
		os.Exit(1)
	}
}

// run does the whole measurement; whatever it started (topics, the
// processor, Redis keys) is gone when it returns, failed or not.
func run(o options) error {
	if o.brokers == "" || o.redisAddr == "" {
		return errors.New("set -brokers and -redis (or VS_KAFKA_BROKERS / VS_REDIS_ADDR: `eval \"$(deploy/local/stack.sh env)\"`)")
	}
	ctx := context.Background()
	bl := strings.Split(o.brokers, ",")
	in, out, dead := scratch.UniqueName("catchup-in"), scratch.UniqueName("catchup-out"), scratch.UniqueName("catchup-dead")
	for _, t := range []struct {
		name string
		n    int
	}{{in, o.partitions}, {out, 1}, {dead, 1}} {
		if err := scratch.CreateTopic(ctx, bl, t.name, t.n); err != nil {
			return fmt.Errorf("create topic: %w", err)
		}
		defer preload.DeleteTopics(bl, t.name)
	}

	data, err := preload.Load(ctx, bl, in, o.events, o.partitions, 42, prefixed{os.Stderr})
	if err != nil {
		return err
	}

	pprofPort, err := scratch.FreePort()
	if err != nil {
		return err
	}
	prefix := scratch.UniqueName("catchup")
	cfg := proc.ProcessorConfig{
		Brokers: bl, RedisAddr: o.redisAddr, KeyPrefix: prefix, Input: in, Output: out, DeadLetter: dead, Group: prefix,
		Earliest: true, IdleTimeout: o.idle, InstanceID: "catchup-processor",
		Extra: []string{"PROCESSOR_HTTP_PPROF=true", "PROCESSOR_HTTP_PPROF_ADDR=127.0.0.1:" + strconv.Itoa(pprofPort), "PROCESSOR_LOG_LEVEL=warn"},
	}
	rdb := redis.NewClient(&redis.Options{Addr: o.redisAddr})
	defer rdb.Close()
	defer preload.CleanRedis(rdb, prefix) // after the processor stopped: defers run last first
	t0 := time.Now()
	p, err := proc.ExecProcessor(o.bin, "", cfg)
	if err != nil {
		return err
	}
	defer func() { _ = p.Stop(30 * time.Second) }()
	base := "http://" + p.Addr
	prof := "http://127.0.0.1:" + strconv.Itoa(pprofPort) // the profiler's own listener
	var profDone chan struct{}
	if o.cpuprofile != "" {
		profDone = make(chan struct{})
		go func() {
			defer close(profDone)
			_ = p.AwaitListening(ctx)
			fetchTo(prof+"/debug/pprof/profile?seconds=10", o.cpuprofile)
		}()
	}

	fmt.Fprintf(os.Stderr, "catchup: processor started, counting %d events over %d partitions\n", o.events, o.partitions)
	var tCounted time.Duration
	output := preload.NewOutput(bl, out)
	lastReport := time.Now()
	for output.Keys() < len(data.Want) {
		if tCounted == 0 {
			if n := int64(preload.SumMetrics([]string{base}, preload.CountedNames...)); n >= int64(o.events) {
				tCounted = time.Since(t0)
				fmt.Fprintf(os.Stderr, "catchup: all %d events counted after %.2f s; waiting for the last windows to close\n", n, tCounted.Seconds())
			} else if time.Since(lastReport) > 2*time.Second {
				fmt.Fprintf(os.Stderr, "catchup: %d events counted (%.0f s)\n", n, time.Since(t0).Seconds())
				lastReport = time.Now()
			}
		}
		select {
		case <-p.Done():
			return fmt.Errorf("the processor exited: %v\n%s", p.Err(), p.Tail(20))
		default:
		}
		if time.Since(t0) > 10*time.Minute {
			return fmt.Errorf("timed out: %d of %d window records after 10 minutes", output.Keys(), len(data.Want))
		}
		time.Sleep(20 * time.Millisecond)
		output.Poll(ctx)
	}
	tLast := time.Since(t0)
	if tCounted == 0 {
		tCounted = tLast
	}
	rss, cpu := preload.ProcStats(p.Pid())
	if o.allocsprofile != "" {
		fetchTo(prof+"/debug/pprof/allocs", o.allocsprofile)
	}
	if profDone != nil {
		<-profDone
	}

	fmt.Printf("\nstats-processor catch-up: %d events, %d partitions, %d window records (idle timeout %s)\n", o.events, o.partitions, len(data.Want), o.idle)
	fmt.Printf("  %-38s %10.2f s  %12.0f events/s\n", "all input counted", tCounted.Seconds(), float64(o.events)/tCounted.Seconds())
	fmt.Printf("  %-38s %10.2f s  %12.0f events/s\n", "last window record on the output topic", tLast.Seconds(), float64(o.events)/tLast.Seconds())
	fmt.Printf("  %-38s %10.1f MiB\n", "peak RSS", float64(rss)/1024)
	fmt.Printf("  %-38s %10.2f s\n", "CPU (user+sys)", cpu)
	if lines, bad := output.Check(data.Want); bad > 0 {
		for _, l := range lines {
			fmt.Fprintf(os.Stderr, "catchup: %s\n", l)
		}
		return fmt.Errorf("%d window records differ from the loaded data", bad)
	}
	fmt.Printf("  every window count equals the loaded data\n")
	return nil
}

// prefixed writes each line with the tool's name in front.
type prefixed struct{ w io.Writer }

func (p prefixed) Write(b []byte) (int, error) {
	if _, err := fmt.Fprintf(p.w, "catchup: %s", b); err != nil {
		return 0, err
	}
	return len(b), nil
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
	_, _ = io.Copy(f, resp.Body)
	fmt.Fprintf(os.Stderr, "catchup: profile written to %s\n", path)
}
