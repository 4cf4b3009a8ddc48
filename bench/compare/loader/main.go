// Command loader writes the input of `make bench-compare` once: N Vehicle
// records over P partitions of a fresh topic, in event-time order within each
// partition, and next to it the output every correct pipeline must produce
// from them (one line per window and type: the record key, a tab, the value,
// byte-exact as the contract defines it), computed from the generated data
// alone.
//
// Each partition's records are written by one goroutine, in order, through a
// kafka-go Writer whose balancer honours the partition the loader chose, so
// the event times of a partition never decrease and no event is late for
// any watermark that follows a partition's largest event time.
//
//	loader -brokers 127.0.0.1:19092 -topic bench-in-x -n 2000000 -expected out/expected.tsv
//
// With -flush (the default) it then writes one more event per vehicle type,
// a window after the last one, so that every type's windows are followed by
// a later record: Kafka Streams closes a window only when a later record
// reaches the same task, and without these its last windows would never be
// written. The flush events are part of the expected output (stats-processor
// and Flink close their windows too); -expected-closed gets the expected
// output without the flush windows, the ones nothing follows.
//
// It fails if the topic already exists: every run gets a fresh one.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/signal"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/vehicle-stats/vehicle-stats/internal/contracttest"
	"github.com/vehicle-stats/vehicle-stats/internal/testenv/scratch"
	"github.com/vehicle-stats/vehicle-stats/pkg/model"
	"github.com/vehicle-stats/vehicle-stats/pkg/serde"
)

// chunk is how many records one WriteMessages call carries per partition.
const chunk = 20000

type options struct {
	brokers    string
	topic      string
	n          int
	partitions int
	step       time.Duration
	ago        time.Duration
	window     time.Duration
	seed       uint64
	expected   string
	closed     string
	flush      bool
	summary    string
}

func main() {
	var o options
	flag.StringVar(&o.brokers, "brokers", "127.0.0.1:19092", "Kafka bootstrap brokers, comma-separated")
	flag.StringVar(&o.topic, "topic", "", "input topic to create and fill (must not exist)")
	flag.IntVar(&o.n, "n", 2_000_000, "number of events")
	flag.IntVar(&o.partitions, "partitions", 6, "partitions of the input topic")
	flag.DurationVar(&o.step, "step", 10*time.Millisecond, "mean event-time distance between two events of one partition")
	flag.DurationVar(&o.ago, "ago", 3*time.Hour, "the first event time is this long before now")
	flag.DurationVar(&o.window, "window", 20*time.Second, "window size of the expected output")
	flag.Uint64Var(&o.seed, "seed", 1, "random seed (same seed, same records)")
	flag.StringVar(&o.expected, "expected", "", "file for the expected output records (key TAB value per line)")
	flag.StringVar(&o.summary, "summary", "", "file for a one-paragraph description of the input (Markdown)")
	flag.BoolVar(&o.flush, "flush", true, "end with one event per vehicle type a window after the last one (see the package doc)")
	flag.StringVar(&o.closed, "expected-closed", "", "file for the expected output without the flush windows (with -flush)")
	flag.Parse()
	if o.topic == "" || o.expected == "" || o.n <= 0 || o.partitions <= 0 || o.step < time.Millisecond {
		fmt.Fprintln(os.Stderr, "loader: -topic and -expected are required; -n, -partitions must be positive and -step at least 1ms")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "loader:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, o options) error {
	brokers := strings.Split(o.brokers, ",")
	tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	err := scratch.CreateTopic(tctx, brokers, o.topic, o.partitions)
	cancel()
	if err != nil {
		return fmt.Errorf("create topic %s: %w", o.topic, err)
	}
	w := &kafka.Writer{
		Addr:         kafka.TCP(brokers...),
		Topic:        o.topic,
		Balancer:     chosenPartition{},
		BatchSize:    chunk,
		BatchBytes:   1_000_000, // under the broker's message.max.bytes (1 MiB)
		BatchTimeout: 5 * time.Millisecond,
		RequiredAcks: kafka.RequireAll,
		MaxAttempts:  10,
	}
	defer w.Close()

	base := time.Now().Add(-o.ago).UnixMilli()
	base -= base % o.window.Milliseconds()
	var (
		written atomic.Int64
		bytes   atomic.Int64
		mu      sync.Mutex
		counts  = map[contracttest.Key]int64{}
		first   = int64(1<<63 - 1)
		last    int64
	)
	start := time.Now()
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(2 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				n := written.Load()
				fmt.Fprintf(os.Stderr, "  load: %d / %d records written (%.0f records/s)\n",
					n, o.n, float64(n)/time.Since(start).Seconds())
			}
		}
	}()

	errs := make(chan error, o.partitions)
	var wg sync.WaitGroup
	for p := range o.partitions {
		n := o.n / o.partitions
		if p < o.n%o.partitions {
			n++
		}
		wg.Go(func() {
			local, lo, hi, err := fill(ctx, w, o, p, n, base, &written, &bytes)
			if err != nil {
				errs <- fmt.Errorf("partition %d: %w", p, err)
				return
			}
			mu.Lock()
			for k, c := range local {
				counts[k] += c
			}
			first, last = min(first, lo), max(last, hi)
			mu.Unlock()
		})
	}
	wg.Wait()
	close(done)
	close(errs)
	if err := errors.Join(drain(errs)...); err != nil {
		return err
	}
	var flushStart int64 = -1
	if o.flush {
		var err error
		if flushStart, err = flush(ctx, w, o, last, counts); err != nil {
			return err
		}
	}
	elapsed := time.Since(start)
	if err := writeExpected(o.expected, counts, o.window.Milliseconds(), -1); err != nil {
		return err
	}
	if o.closed != "" {
		if err := writeExpected(o.closed, counts, o.window.Milliseconds(), flushStart); err != nil {
			return err
		}
	}
	fmt.Fprintf(os.Stderr, "  load: %d records (%d MiB of values) in %s (%.0f records/s) over %d partitions; event times %s .. %s; %d expected window records in %s\n",
		o.n, bytes.Load()>>20, elapsed.Round(time.Millisecond), float64(o.n)/elapsed.Seconds(), o.partitions,
		time.UnixMilli(first).UTC().Format(time.RFC3339), time.UnixMilli(last).UTC().Format(time.RFC3339), len(counts), o.expected)
	if o.summary != "" {
		flushNote := ""
		if o.flush {
			flushNote = fmt.Sprintf(", then %d flush events, one per type, at %s (a window after the last)",
				model.NumVehicleTypes, time.UnixMilli(flushStart).UTC().Format("2006-01-02T15:04:05.000Z"))
		}
		desc := fmt.Sprintf("%d events (%d MiB of JSON values; key = plate number) over %d partitions, written in %s; "+
			"event times %s .. %s, non-decreasing within each partition, %s apart on average (seed %d)%s; "+
			"type mix 87%% CAR, 11%% TRUCK, 1%% BUS, 0.6%% VAN, 0.4%% MOTORCYCLE; %d expected window records.\n",
			o.n, bytes.Load()>>20, o.partitions, elapsed.Round(100*time.Millisecond),
			time.UnixMilli(first).UTC().Format("2006-01-02T15:04:05.000Z"), time.UnixMilli(last).UTC().Format("2006-01-02T15:04:05.000Z"),
			o.step, o.seed, flushNote, len(counts))
		if err := os.WriteFile(o.summary, []byte(desc), 0o644); err != nil {
			return err
		}
	}
	return nil
}

func drain(errs <-chan error) []error {
	var out []error
	for err := range errs {
		out = append(out, err)
	}
	return out
}

// fill writes partition p's n records in event-time order and returns its
// counts per window and type and its first and last event time.
func fill(ctx context.Context, w *kafka.Writer, o options, p, n int, base int64, written, bytes *atomic.Int64) (map[contracttest.Key]int64, int64, int64, error) {
	rng := rand.New(rand.NewPCG(o.seed, uint64(p)+1))
	step := o.step.Milliseconds()
	tally := contracttest.NewTally(o.window, 0)
	t := base + int64(p) // partitions start a few ms apart
	first := t
	msgs := make([]kafka.Message, 0, chunk)
	buf := make([]byte, 0, chunk*160)
	for i := 0; i < n; i++ {
		plate, sticker, typ := contracttest.Plate(rng), contracttest.StickerID(rng), contracttest.MixedType(rng)
		tally.Add(contracttest.Event{Partition: p, Time: t, Type: typ})
		off := len(buf)
		buf = contracttest.AppendVehicle(buf, plate, sticker, t, typ, contracttest.RFC3339UTC)
		msgs = append(msgs, kafka.Message{Partition: p, Key: []byte(plate), Value: buf[off:len(buf):len(buf)]})
		if len(msgs) == chunk || i == n-1 {
			if err := w.WriteMessages(ctx, msgs...); err != nil {
				return nil, 0, 0, firstError(err)
			}
			written.Add(int64(len(msgs)))
			bytes.Add(int64(len(buf)))
			msgs, buf = msgs[:0], make([]byte, 0, chunk*160)
		}
		if i < n-1 {
			t += rng.Int64N(2*step + 1) // mean step, never backwards
		}
	}
	return tally.Counts(), first, t, nil
}

// flush writes one event per vehicle type at the start of the window after
// the one following the last event's (so a whole window lies between), type i
// to partition i mod partitions, adds them to counts and returns their
// window's start.
func flush(ctx context.Context, w *kafka.Writer, o options, last int64, counts map[contracttest.Key]int64) (int64, error) {
	size := o.window.Milliseconds()
	t := model.WindowStart(last, size) + 2*size
	rng := rand.New(rand.NewPCG(o.seed, 0))
	tally := contracttest.NewTally(o.window, 0)
	var msgs []kafka.Message
	for i, typ := range model.VehicleTypes() {
		plate, sticker := contracttest.Plate(rng), contracttest.StickerID(rng)
		v := contracttest.AppendVehicle(nil, plate, sticker, t, typ, contracttest.RFC3339UTC)
		msgs = append(msgs, kafka.Message{Partition: i % o.partitions, Key: []byte(plate), Value: v})
		tally.Add(contracttest.Event{Partition: i % o.partitions, Time: t, Type: typ})
	}
	for k, n := range tally.Counts() {
		counts[k] += n
	}
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		return 0, fmt.Errorf("flush events: %w", firstError(err))
	}
	return t, nil
}

// firstError shortens kafka-go's per-message errors to the count and the first one.
func firstError(err error) error {
	var werr kafka.WriteErrors
	if errors.As(err, &werr) {
		for _, e := range werr {
			if e != nil {
				return fmt.Errorf("%d of %d records not written, the first: %w", werr.Count(), len(werr), e)
			}
		}
	}
	return err
}

// chosenPartition sends each message to the partition the loader set on it.
type chosenPartition struct{}

func (chosenPartition) Balance(msg kafka.Message, _ ...int) int { return msg.Partition }

// writeExpected writes one line per window and type, ordered by window start
// and type: the output record key, a tab, the output record value. Windows
// that start at skip are left out.
func writeExpected(path string, counts map[contracttest.Key]int64, size, skip int64) error {
	keys := make([]contracttest.Key, 0, len(counts))
	for k := range counts {
		if k.Start != skip {
			keys = append(keys, k)
		}
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].Start != keys[j].Start {
			return keys[i].Start < keys[j].Start
		}
		return keys[i].Type < keys[j].Type
	})
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	bw := bufio.NewWriter(f)
	var line []byte
	for _, k := range keys {
		line = append(append(line[:0], k.OutputKey()...), '\t')
		line = serde.AppendStatistics(line, model.VehicleStatistics{
			Start: time.UnixMilli(k.Start).UTC(), End: time.UnixMilli(k.Start + size).UTC(),
			VehicleType: k.Type, Count: counts[k],
		})
		line = append(line, '\n')
		if _, err := bw.Write(line); err != nil {
			f.Close()
			return err
		}
	}
	if err := bw.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
