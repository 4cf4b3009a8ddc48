package live

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/vehicle-stats/vehicle-stats/internal/contracttest"
	"github.com/vehicle-stats/vehicle-stats/pkg/model"
)

// WindowType names one window (by its start, epoch ms) and vehicle type.
type WindowType struct {
	Start int64
	Type  string
}

// LoadResult is what the loader sent and acknowledged.
type LoadResult struct {
	Start, Stop time.Time
	Sent        int64
	Failed      int64
	FirstErr    error
	// Counts are the contract's counts per window and type for the
	// acknowledged events (contracttest.Tally, max out-of-orderness 0, each
	// partition's events in the order the broker acknowledged them, which is
	// their log order).
	Counts map[WindowType]int64
	// Late are the acknowledged events the oracle found late: 0 unless the
	// wall clock stepped back by a window boundary.
	Late int
	// MaxBehind is the longest the loader fell behind its schedule.
	MaxBehind time.Duration
}

// Held is the rate the loader held: the events sent over the time it ran.
func (r LoadResult) Held() float64 { return float64(r.Sent) / r.Stop.Sub(r.Start).Seconds() }

// Summary is the one-line report of the load, for the benchmarks' logs.
func (r LoadResult) Summary() string {
	s := fmt.Sprintf("%d events in %s (%.0f events/s held; at most %s behind schedule), %d failed",
		r.Sent, r.Stop.Sub(r.Start).Round(time.Millisecond), r.Held(), r.MaxBehind.Round(time.Millisecond), r.Failed)
	if r.Late > 0 {
		s += fmt.Sprintf(", %d late by the contract (the wall clock stepped back): the counts leave them out", r.Late)
	}
	return s
}

// Load writes Vehicle events to topic at rate events/s for d, event i due at
// start + i/rate (absolute pacing: a late tick sends what is due, so the rate
// does not drift), each stamped with the wall clock when it is handed to the
// writer, round-robin over the partitions.
func Load(ctx context.Context, brokers []string, topic string, partitions int, rate float64, d, window time.Duration) LoadResult {
	var (
		mu     sync.Mutex
		res    LoadResult
		tally  = contracttest.NewTally(window, 0)
		failed atomic.Int64
	)
	w := &kafka.Writer{
		Addr:         kafka.TCP(brokers...),
		Topic:        topic,
		Balancer:     chosenPartition{},
		BatchSize:    1000,
		BatchTimeout: time.Millisecond,
		RequiredAcks: kafka.RequireAll,
		MaxAttempts:  10,
		Async:        true,
		Completion: func(msgs []kafka.Message, err error) {
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				failed.Add(int64(len(msgs)))
				if res.FirstErr == nil {
					res.FirstErr = err
				}
				return
			}
			for _, m := range msgs {
				tally.Add(contracttest.Event{Partition: m.Partition, Time: m.Time.UnixMilli(), Type: m.WriterData.(model.VehicleType)})
			}
		},
	}
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	total := int64(rate * d.Seconds())
	res.Start = time.Now()
	lastReport := res.Start
	var sent int64
	buf := make([]byte, 0, 64<<10)
	for sent < total && ctx.Err() == nil {
		now := time.Now()
		due := min(total, int64(now.Sub(res.Start).Seconds()*rate)+1)
		if behind := now.Sub(res.Start.Add(time.Duration(float64(sent) / rate * float64(time.Second)))); due > sent+1 && behind > res.MaxBehind {
			res.MaxBehind = behind
		}
		msgs := make([]kafka.Message, 0, due-sent)
		buf = buf[:0]
		ts := now.Truncate(time.Millisecond)
		for ; sent < due; sent++ {
			plate, typ := contracttest.Plate(rng), contracttest.MixedType(rng)
			off := len(buf)
			buf = contracttest.AppendVehicle(buf, plate, "", ts.UnixMilli(), typ, contracttest.RFC3339UTC)
			msgs = append(msgs, kafka.Message{
				Partition: int(sent % int64(partitions)), Key: []byte(plate),
				Value: append([]byte(nil), buf[off:]...), Time: ts,
				// The loader's own note of the type, for its tally; not sent.
				WriterData: typ,
			})
		}
		if len(msgs) > 0 {
			if err := w.WriteMessages(ctx, msgs...); err != nil {
				failed.Add(int64(len(msgs)))
			}
		}
		if now.Sub(lastReport) >= 5*time.Second {
			lastReport = now
			fmt.Fprintf(os.Stderr, "  load: %d / %d events sent (%.0f events/s)\n", sent, total, float64(sent)/now.Sub(res.Start).Seconds())
		}
		next := res.Start.Add(time.Duration(float64(sent) / rate * float64(time.Second)))
		time.Sleep(max(time.Until(next), time.Millisecond))
	}
	res.Stop = time.Now()
	if err := w.Close(); err != nil { // flushes what is queued
		mu.Lock()
		if res.FirstErr == nil {
			res.FirstErr = err
		}
		mu.Unlock()
	}
	mu.Lock()
	defer mu.Unlock()
	res.Sent = sent
	res.Failed = failed.Load()
	res.Counts = make(map[WindowType]int64, len(tally.Counts()))
	for k, n := range tally.Counts() {
		res.Counts[WindowType{Start: k.Start, Type: k.Type.String()}] = n
	}
	res.Late = tally.Late()
	return res
}

// chosenPartition sends each message to the partition the loader set on it.
type chosenPartition struct{}

func (chosenPartition) Balance(msg kafka.Message, _ ...int) int { return msg.Partition }
