package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/vehicle-stats/vehicle-stats/internal/redisconn"
)

// Config is one soak run.
type Config struct {
	Brokers   []string
	RedisAddr string
	// Stack is deploy/local/stack.sh, which restarts Redis.
	Stack string
	// Processor and Producer are the built binaries.
	Processor, Producer string
	Duration            time.Duration
	Rate                float64
	Partitions          int
	Window              time.Duration
	Jitter              time.Duration
	LateFraction        float64
	SampleEvery         time.Duration
	KillEvery           time.Duration
	// Victims are the processors killed in turn.
	Victims      []int
	RestartAfter time.Duration
	RedisEvery   time.Duration
	RedisFirst   time.Duration
	// Drain is how long the end waits for the last windows.
	Drain time.Duration
	Seed  int64
	Out   string
}

func main() {
	var c Config
	brokers := flag.String("brokers", os.Getenv("VS_KAFKA_BROKERS"), "Kafka brokers (comma-separated)")
	flag.StringVar(&c.RedisAddr, "redis", os.Getenv("VS_REDIS_ADDR"), "Redis address; it must be the local stack's, which the soak restarts")
	flag.StringVar(&c.Stack, "stack", "deploy/local/stack.sh", "the local stack's script (restarts Redis)")
	flag.StringVar(&c.Processor, "processor", "bin/stats-processor", "stats-processor binary")
	flag.StringVar(&c.Producer, "producer", "bin/vehicle-producer", "vehicle-producer binary")
	flag.DurationVar(&c.Duration, "duration", 30*time.Minute, "how long the producer runs")
	flag.Float64Var(&c.Rate, "rate", 5000, "producer events per second")
	flag.IntVar(&c.Partitions, "partitions", 6, "input partitions")
	flag.DurationVar(&c.Window, "window", 20*time.Second, "window.size")
	flag.DurationVar(&c.Jitter, "jitter", 5*time.Second, "producer jitter, and the processors' max_out_of_orderness")
	flag.Float64Var(&c.LateFraction, "late", 0.01, "fraction of late events")
	flag.DurationVar(&c.SampleEvery, "sample", 10*time.Second, "sampling interval")
	flag.DurationVar(&c.KillEvery, "kill-every", 2*time.Minute, "SIGKILL one of -victims (in turn) this often; 0 = never")
	victims := flag.String("victims", "1,2", "the processors killed in turn, of 0, 1 and 2 (processor 0 starts first and takes the closer lease)")
	flag.DurationVar(&c.RestartAfter, "restart-after", 5*time.Second, "how long a killed processor stays down")
	flag.DurationVar(&c.RedisEvery, "redis-every", 10*time.Minute, "restart Redis this often; 0 = never")
	flag.DurationVar(&c.RedisFirst, "redis-first", 0, "first Redis restart (default: half of -redis-every, between two kills)")
	flag.DurationVar(&c.Drain, "drain", 3*time.Minute, "longest wait for the last windows after the producer stops")
	flag.Int64Var(&c.Seed, "seed", 16, "producer seed")
	flag.StringVar(&c.Out, "out", "", "output folder (default out/soak-<time>)")
	analyze := flag.String("analyze", "", "only redraw the charts and the resource summary from this samples.csv")
	flag.Parse()
	keepInheritedFilesToItself()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	redisconn.LogTo(log) // its own Redis client complains while Redis restarts

	if *analyze != "" {
		if err := reanalyze(*analyze); err != nil {
			fmt.Fprintln(os.Stderr, "soak:", err)
			os.Exit(1)
		}
		return
	}
	if *brokers == "" || c.RedisAddr == "" {
		fmt.Fprintln(os.Stderr, "soak: set -brokers and -redis, or VS_KAFKA_BROKERS and VS_REDIS_ADDR (`make soak` does, through deploy/local/with-stack.sh)")
		os.Exit(2)
	}
	c.Brokers = strings.Split(*brokers, ",")
	var err error
	if c.Victims, err = ParseVictims(*victims); err != nil {
		fmt.Fprintln(os.Stderr, "soak: -victims:", err)
		os.Exit(2)
	}
	if c.RedisFirst == 0 {
		c.RedisFirst = c.RedisEvery / 2
	}
	if c.Out == "" {
		c.Out = filepath.Join("out", "soak-"+time.Now().UTC().Format("20060102-150405"))
	}
	if err := os.MkdirAll(c.Out, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(1)
	}
	var ok bool
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ok, err = Run(ctx, c, log)
	if err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(1)
	}
	if !ok {
		os.Exit(1)
	}
}

// ParseVictims reads -victims: distinct processor numbers below
// Instances, comma-separated, at least one.
func ParseVictims(s string) ([]int, error) {
	var out []int
	seen := map[int]bool{}
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 0 || n >= Instances {
			return nil, fmt.Errorf("%q is not a processor number (0 to %d)", f, Instances-1)
		}
		if seen[n] {
			return nil, fmt.Errorf("processor %d named twice", n)
		}
		seen[n] = true
		out = append(out, n)
	}
	return out, nil
}

// keepInheritedFilesToItself marks every file this process inherited
// beyond stdin, stdout and stderr close-on-exec, so that the processes it
// starts do not hold them. `flock machine.lock make soak` passes the lock
// down as an open file: a Redis restarted by the soak (a daemon that
// outlives it) would otherwise keep the lock held after the soak ended.
// The soak itself keeps holding it until it exits.
func keepInheritedFilesToItself() {
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return // not Linux: nothing to do that we know of
	}
	for _, e := range entries {
		if fd, err := strconv.Atoi(e.Name()); err == nil && fd > 2 {
			syscall.CloseOnExec(fd)
		}
	}
}

// reanalyze redraws the charts and prints the resource part of the
// summary from a CSV file written by an earlier run.
func reanalyze(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("open samples: %w", err)
	}
	defer f.Close()
	samples, err := ReadCSV(f)
	if err != nil {
		return err
	}
	files, err := DrawCharts(samples, filepath.Dir(path))
	if err != nil {
		return err
	}
	WriteResources(os.Stdout, samples)
	fmt.Println(Conclusion(JudgeTail(samples, 1.0/3)))
	fmt.Printf("charts: %s\n", strings.Join(files, " "))
	return nil
}
