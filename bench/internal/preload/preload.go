// Package preload is what the catch-up and scale-out benchmarks share: a
// topic filled with in-order events and the window counts they must give,
// a reader that collects the processor's output and checks it against
// them, and the figures read from a running processor (its metrics, its
// CPU time and peak memory).
package preload

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/segmentio/kafka-go"

	"github.com/vehicle-stats/vehicle-stats/internal/contracttest"
	"github.com/vehicle-stats/vehicle-stats/internal/testenv/scratch"
	"github.com/vehicle-stats/vehicle-stats/pkg/model"
	"github.com/vehicle-stats/vehicle-stats/pkg/serde"
)

// WindowMillis is the window the benchmarks run the processor with (the
// contract's 20 s); the expected counts are computed for it.
const WindowMillis = 20_000

// Data is what Load wrote.
type Data struct {
	// Want is the expected count per (window, type): the oracle's.
	Want map[contracttest.Key]int64
	// Bytes is the total size of the values written.
	Bytes int
}

// Load writes n events to topic, round-robin over partitions, in event-time
// order within each partition (10 ms apart, starting six hours ago, so every
// window can close), with vehicle types drawn from seed. It reports
// progress to progress (nil: silent) and fails on the first write error.
func Load(ctx context.Context, brokers []string, topic string, n, partitions int, seed uint64, progress io.Writer) (Data, error) {
	if progress == nil {
		progress = io.Discard
	}
	start := time.Now()
	w := &kafka.Writer{
		Addr: kafka.TCP(brokers...), Topic: topic, RequiredAcks: kafka.RequireAll,
		// The partition chosen below travels in a header, so the writer
		// keeps each partition's records in the order they were made.
		Balancer: kafka.BalancerFunc(func(m kafka.Message, _ ...int) int {
			p, _ := strconv.Atoi(string(m.Headers[0].Value))
			return p
		}),
		BatchSize: 10_000, BatchBytes: 1 << 20, BatchTimeout: 5 * time.Millisecond,
		// A topic just created may lack leaders for a while: with 1,000
		// partitions on a busy broker, longer than the default attempts.
		// A write answered after its timeout is sent again and lands
		// twice (Load then fails): the timeout is long.
		MaxAttempts: 30, WriteBackoffMax: 2 * time.Second, WriteTimeout: 2 * time.Minute,
	}
	defer w.Close()
	rng := rand.New(rand.NewPCG(seed, seed))
	base := time.Now().Add(-6 * time.Hour).UnixMilli()
	var data Data
	tally := contracttest.NewTally(WindowMillis*time.Millisecond, 0)
	const chunk = 60_000
	msgs := make([]kafka.Message, 0, chunk)
	for i := range n {
		p := i % partitions
		et := base + int64(i/partitions)*10
		typ := vehicleType(rng.IntN(1000))
		plate := fmt.Sprintf("CA%04dAB", rng.IntN(10000))
		v := serde.AppendVehicle(nil, model.Vehicle{PlateNumber: plate, VignetteStickerID: "5f0c6c1e-5a9d-4a8e-9a55-0f7a5c0e8f11",
			Timestamp: model.TimeFromMillis(et), VehicleType: typ})
		data.Bytes += len(v)
		msgs = append(msgs, kafka.Message{Key: []byte(plate), Value: v, Headers: []kafka.Header{{Key: "p", Value: []byte(strconv.Itoa(p))}}})
		tally.Add(contracttest.Event{Partition: p, Time: et, Type: typ})
		if len(msgs) == chunk || i == n-1 {
			if err := w.WriteMessages(ctx, msgs...); err != nil {
				var we kafka.WriteErrors
				if errors.As(err, &we) && len(we) > 0 {
					err = fmt.Errorf("%d of %d records failed, first: %w", we.Count(), len(we), firstErr(we))
				}
				data.Want = tally.Counts()
				return data, fmt.Errorf("load %s: %w", topic, err)
			}
			msgs = msgs[:0]
			fmt.Fprintf(progress, "loaded %d/%d events (%.0f s)\n", i+1, n, time.Since(start).Seconds())
		}
	}
	data.Want = tally.Counts()
	// The topic is new and never trimmed: its end offsets add up to its
	// records.
	ends, err := contracttest.EndOffsets(ctx, brokers, topic, partitions)
	if err != nil {
		return data, fmt.Errorf("count the records loaded into %s: %w", topic, err)
	}
	var on int64
	for _, e := range ends {
		on += e
	}
	if on != int64(n) {
		// A write the broker took but answered too late is sent again.
		return data, fmt.Errorf("load %s: the topic holds %d records, %d were loaded: the loader's retries wrote some twice (a busy broker); run again", topic, on, n)
	}
	fmt.Fprintf(progress, "loaded %d events over %d partitions (%.1f MB, %.0f B/event) in %.1f s\n",
		n, partitions, float64(data.Bytes)/1e6, float64(data.Bytes)/float64(max(n, 1)), time.Since(start).Seconds())
	return data, nil
}

// vehicleType maps a draw in [0, 1000) to a type: mostly cars, about 11 %
// buses, a few of the rest.
func vehicleType(r int) model.VehicleType {
	types := model.VehicleTypes()
	switch {
	case r < 110:
		return types[1]
	case r < 115:
		return types[2]
	case r < 125:
		return types[3]
	case r < 130:
		return types[4]
	}
	return types[0]
}

func firstErr(we kafka.WriteErrors) error {
	for _, e := range we {
		if e != nil {
			return e
		}
	}
	return nil
}

// Output collects the records of a one-partition output topic, for
// contracttest.CompareOutput.
type Output struct {
	brokers []string
	topic   string
	offset  int64
	records []contracttest.OutputRecord
	keys    map[string]bool
}

// NewOutput reads topic from its beginning.
func NewOutput(brokers []string, topic string) *Output {
	return &Output{brokers: brokers, topic: topic, keys: map[string]bool{}}
}

// Keys is how many distinct keys were read so far.
func (o *Output) Keys() int { return len(o.keys) }

// Poll reads what is new on the topic. A failed read is not an error: the
// caller polls again.
func (o *Output) Poll(ctx context.Context) {
	ends, err := contracttest.EndOffsets(ctx, o.brokers, o.topic, 1)
	if err != nil || ends[0] <= o.offset {
		return
	}
	_ = contracttest.ReadPartition(ctx, o.brokers, o.topic, 0, o.offset, ends[0], func(m kafka.Message) {
		o.records = append(o.records, contracttest.OutputRecord{Key: m.Key, Value: m.Value, Offset: m.Offset, Time: m.Time.UnixMilli()})
		o.keys[string(m.Key)] = true
		o.offset = m.Offset + 1
	})
}

// Check compares what was read with want (contracttest.CompareOutput): every
// key once, byte for byte, none else. It returns one line per difference
// (at most 20 of each kind) and how many there were.
func (o *Output) Check(want map[contracttest.Key]int64) ([]string, int) {
	rep := contracttest.CompareOutput(want, o.records, WindowMillis*time.Millisecond)
	bad := len(rep.Missing) + len(rep.Wrong) + len(rep.Conflicting) + len(rep.Extra) + len(rep.Undecodable) + len(rep.Mistimed)
	return rep.Describe(20), bad
}

// CountedNames are the metrics whose sum is every input record a processor
// has dealt with: counted, late, or dead-lettered.
var CountedNames = []string{"stats_processor_events_total", "stats_processor_late_events_total", "stats_processor_dead_letters_total"}

// SumMetrics adds the named metrics (every label set) over the /metrics of
// every base URL. An instance that does not answer adds nothing.
func SumMetrics(bases []string, names ...string) float64 {
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

// ProcStats returns a running process's peak RSS in KiB and its CPU time
// (user + system) in seconds, from /proc; zeros where it cannot read them.
func ProcStats(pid int) (peakKiB int64, cpuSeconds float64) {
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid)); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
				peakKiB, _ = strconv.ParseInt(strings.Fields(v)[0], 10, 64)
			}
		}
	}
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil {
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
		ut, _ := strconv.ParseFloat(f[11], 64)
		st, _ := strconv.ParseFloat(f[12], 64)
		cpuSeconds = (ut + st) / 100 // USER_HZ
	}
	return peakKiB, cpuSeconds
}

// DeleteTopics deletes a run's topics, best effort: a failure is reported on
// stderr and the run's result stands.
func DeleteTopics(brokers []string, topics ...string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := scratch.DeleteTopics(ctx, brokers, topics...); err != nil {
		fmt.Fprintf(os.Stderr, "clean-up: %v\n", err)
	}
}

// CleanRedis deletes a run's keys (every key under prefix), best effort.
func CleanRedis(rdb *redis.Client, prefix string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := scratch.DeleteKeys(ctx, rdb, prefix+":*"); err != nil {
		fmt.Fprintf(os.Stderr, "clean-up: %v\n", err)
	}
}
