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

// loadWriters is how many writers the loader runs in parallel, each with
// its own connection and its own share of the partitions: one writer of
// kafka-go holds the loader to about 250,000 events/s here, waiting on the
// broker, not on the CPU.
const loadWriters = 4

// Load writes Vehicle events to topic at rate events/s for d, round-robin
// over the partitions, each stamped with the wall clock when it is handed to
// the writer. The partitions are shared among up to loadWriters writers,
// each paced on its own: event i of a writer is due at start + i/its rate
// (absolute pacing: a late tick sends what is due, so the rate does not
// drift), and a writer that falls behind catches up in batches of at most
// 10 ms of events, each stamped when it is built.
func Load(ctx context.Context, brokers []string, topic string, partitions int, rate float64, d, window time.Duration) LoadResult {
	total := int64(rate * d.Seconds())
	n := min(partitions, loadWriters)
	shares := make([]loadShare, n)
	for p := range partitions {
		s := &shares[p%n]
		s.partitions = append(s.partitions, p)
		s.total += total / int64(partitions)
		if int64(p) < total%int64(partitions) {
			s.total++
		}
	}
	var progress atomic.Int64
	start := time.Now()
	var wg sync.WaitGroup
	for i := range shares {
		s := &shares[i]
		s.rate = rate * float64(s.total) / float64(max(total, 1))
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.run(ctx, brokers, topic, window, start, &progress, i == 0, total)
		}()
	}
	wg.Wait()
	res := LoadResult{Start: start, Counts: map[WindowType]int64{}}
	for i := range shares {
		s := &shares[i]
		if s.stop.After(res.Stop) {
			res.Stop = s.stop
		}
		res.Sent += s.sent
		res.Failed += s.failed.Load()
		res.MaxBehind = max(res.MaxBehind, s.maxBehind)
		res.Late += s.tally.Late()
		if res.FirstErr == nil {
			res.FirstErr = s.firstErr
		}
		for k, c := range s.tally.Counts() {
			res.Counts[WindowType{Start: k.Start, Type: k.Type.String()}] += c
		}
	}
	return res
}

// loadShare is one writer's part of a Load: its partitions, events and rate,
// and what it sent and had acknowledged.
type loadShare struct {
	partitions []int
	total      int64
	rate       float64

	mu        sync.Mutex // guards tally and firstErr, written by the writer's completions
	tally     *contracttest.Tally
	firstErr  error
	failed    atomic.Int64
	sent      int64
	maxBehind time.Duration
	stop      time.Time
}

func (s *loadShare) run(ctx context.Context, brokers []string, topic string, window time.Duration, start time.Time, progress *atomic.Int64, report bool, all int64) {
	s.tally = contracttest.NewTally(window, 0)
	w := &kafka.Writer{
		Addr:         kafka.TCP(brokers...),
		Topic:        topic,
		Balancer:     chosenPartition{},
		BatchSize:    1000,
		BatchTimeout: time.Millisecond,
		RequiredAcks: kafka.RequireAll,
		MaxAttempts:  10,
		Async:        true,
		Transport:    &kafka.Transport{}, // a connection of its own
		Completion: func(msgs []kafka.Message, err error) {
			s.mu.Lock()
			defer s.mu.Unlock()
			if err != nil {
				s.failed.Add(int64(len(msgs)))
				if s.firstErr == nil {
					s.firstErr = err
				}
				return
			}
			for _, m := range msgs {
				s.tally.Add(contracttest.Event{Partition: m.Partition, Time: m.Time.UnixMilli(), Type: m.WriterData.(model.VehicleType)})
			}
		},
	}
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), uint64(s.partitions[0])))
	at := func(i int64) time.Time { return start.Add(time.Duration(float64(i) / s.rate * float64(time.Second))) }
	batch := max(int64(s.rate/100), 1) // 10 ms of events
	lastReport := start
	for s.sent < s.total && ctx.Err() == nil {
		now := time.Now()
		due := min(s.total, int64(now.Sub(start).Seconds()*s.rate)+1, s.sent+batch)
		if behind := now.Sub(at(s.sent)); due > s.sent+1 && behind > s.maxBehind {
			s.maxBehind = behind
		}
		msgs := make([]kafka.Message, 0, due-s.sent)
		buf := make([]byte, 0, (due-s.sent)*160) // the batch's keys and values; the writer keeps them until sent
		ts := now.Truncate(time.Millisecond)
		for ; s.sent < due; s.sent++ {
			plate, typ := contracttest.Plate(rng), contracttest.MixedType(rng)
			off := len(buf)
			buf = append(buf, plate...)
			mid := len(buf)
			buf = contracttest.AppendVehicle(buf, plate, "", ts.UnixMilli(), typ, contracttest.RFC3339UTC)
			msgs = append(msgs, kafka.Message{
				Partition: s.partitions[s.sent%int64(len(s.partitions))],
				Key:       buf[off:mid:mid], Value: buf[mid:len(buf):len(buf)], Time: ts,
				// The loader's own note of the type, for its tally; not sent.
				WriterData: typ,
			})
		}
		if err := w.WriteMessages(ctx, msgs...); err != nil {
			s.failed.Add(int64(len(msgs)))
		}
		sent := progress.Add(int64(len(msgs)))
		if report && now.Sub(lastReport) >= 5*time.Second {
			lastReport = now
			fmt.Fprintf(os.Stderr, "  load: %d / %d events sent (%.0f events/s)\n", sent, all, float64(sent)/now.Sub(start).Seconds())
		}
		if wait := time.Until(at(s.sent)); wait > 0 {
			time.Sleep(max(wait, time.Millisecond))
		}
	}
	s.stop = time.Now()
	if err := w.Close(); err != nil { // flushes what is queued
		s.mu.Lock()
		if s.firstErr == nil {
			s.firstErr = err
		}
		s.mu.Unlock()
	}
}

// chosenPartition sends each message to the partition the loader set on it.
type chosenPartition struct{}

func (chosenPartition) Balance(msg kafka.Message, _ ...int) int { return msg.Partition }
