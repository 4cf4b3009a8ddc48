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
	"github.com/segmentio/kafka-go/protocol"
	"github.com/segmentio/kafka-go/protocol/produce"

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
// broker and on its own per-message work, not on the encoding.
const loadWriters = 4

// requestsAbove is the number of partitions above which a writer sends each
// tick's events in one produce request for all its partitions, as Kafka's
// own producer does, instead of through kafka-go's Writer: the Writer sends
// a request per partition, so at 1,000 partitions and 20,000 events/s it
// sent about one request per event and fell behind the broker, its
// unbounded asynchronous queue growing to 23 GB in a minute.
const requestsAbove = 64

// Load writes Vehicle events to topic at rate events/s for d, event i due at
// start + i/rate (absolute pacing: a late tick sends what is due, so the
// rate does not drift), round-robin over the partitions, each stamped with
// the wall clock of the tick that made it due. One loop paces and stamps,
// so every partition's events carry the same clock; a loop that fell behind
// catches up in ticks of at most 10 ms of events. The partitions are shared
// among up to loadWriters writers that encode their events of each tick and
// hand them to the broker in parallel; a writer that cannot keep up holds
// the loop back (after 16 ticks queued), and the time it fell behind is
// reported.
func Load(ctx context.Context, brokers []string, topic string, partitions int, rate float64, d, window time.Duration) LoadResult {
	ws := make([]*loadWriter, min(partitions, loadWriters))
	var wg sync.WaitGroup
	for i := range ws {
		ws[i] = newLoadWriter(brokers, topic, window, partitions > requestsAbove)
		wg.Add(1)
		go func() {
			defer wg.Done()
			ws[i].drain(ctx, partitions, i, len(ws))
		}()
	}
	total := int64(rate * d.Seconds())
	batch := max(int64(rate/100), 1) // 10 ms of events
	res := LoadResult{Start: time.Now()}
	at := func(i int64) time.Time { return res.Start.Add(time.Duration(float64(i) / rate * float64(time.Second))) }
	lastReport := res.Start
	var sent int64
	for sent < total && ctx.Err() == nil {
		now := time.Now()
		due := min(total, int64(now.Sub(res.Start).Seconds()*rate)+1, sent+batch)
		if behind := now.Sub(at(sent)); due > sent+1 && behind > res.MaxBehind {
			res.MaxBehind = behind
		}
		for _, w := range ws {
			w.queue <- tick{from: sent, to: due, at: now.Truncate(time.Millisecond)}
		}
		sent = due
		if now.Sub(lastReport) >= 5*time.Second {
			lastReport = now
			fmt.Fprintf(os.Stderr, "  load: %d / %d events sent (%.0f events/s)\n", sent, total, float64(sent)/now.Sub(res.Start).Seconds())
		}
		if wait := time.Until(at(sent)); wait > 0 {
			time.Sleep(max(wait, time.Millisecond))
		}
	}
	res.Stop = time.Now()
	res.Sent = sent
	res.Counts = map[WindowType]int64{}
	for _, w := range ws {
		close(w.queue)
	}
	wg.Wait()
	for _, w := range ws {
		w.close()
		res.Failed += w.failed.Load()
		res.Late += w.tally.Late()
		if res.FirstErr == nil {
			res.FirstErr = w.firstErr
		}
		for k, c := range w.tally.Counts() {
			res.Counts[WindowType{Start: k.Start, Type: k.Type.String()}] += c
		}
	}
	return res
}

// tick is a span of Load's events, [from, to), all stamped at.
type tick struct {
	from, to int64
	at       time.Time
}

// loadWriter is one of Load's writers: a kafka-go writer with a connection
// of its own, the ticks queued for it, and the tally of what its partitions
// had acknowledged.
type loadWriter struct {
	w     *kafka.Writer
	queue chan tick
	// With many partitions (perTick) each tick's events go in one produce
	// request through rt to w's address and topic (produce), not through w.
	// rt is w's transport too.
	perTick bool
	rt      *kafka.Transport

	mu       sync.Mutex // guards tally and firstErr, written by the writer's completions
	tally    *contracttest.Tally
	firstErr error
	failed   atomic.Int64
}

func newLoadWriter(brokers []string, topic string, window time.Duration, perTick bool) *loadWriter {
	lw := &loadWriter{queue: make(chan tick, 16), tally: contracttest.NewTally(window, 0), perTick: perTick, rt: &kafka.Transport{}}
	lw.w = &kafka.Writer{
		Addr:         kafka.TCP(brokers...),
		Topic:        topic,
		Balancer:     chosenPartition{},
		BatchSize:    4000,
		BatchTimeout: time.Millisecond,
		RequiredAcks: kafka.RequireAll,
		MaxAttempts:  10,
		Async:        true,
		Transport:    lw.rt,
		Completion:   lw.completed,
	}
	return lw
}

// completed tallies an acknowledged batch, or counts a failed one.
func (lw *loadWriter) completed(msgs []kafka.Message, err error) {
	lw.mu.Lock()
	defer lw.mu.Unlock()
	if err != nil {
		lw.failed.Add(int64(len(msgs)))
		if lw.firstErr == nil {
			lw.firstErr = err
		}
		return
	}
	for _, m := range msgs {
		lw.tally.Add(contracttest.Event{Partition: m.Partition, Time: m.Time.UnixMilli(), Type: m.WriterData.(model.VehicleType)})
	}
}

// drain encodes and writes, for each queued tick, the events of partitions
// p with p mod of == own, until the queue is closed.
func (lw *loadWriter) drain(ctx context.Context, partitions, own, of int) {
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), uint64(own)))
	for t := range lw.queue {
		msgs := make([]kafka.Message, 0, (t.to-t.from)/int64(of)+1)
		buf := make([]byte, 0, cap(msgs)*160) // the tick's keys and values; the writer keeps them until sent
		for i := t.from; i < t.to; i++ {
			p := int(i % int64(partitions))
			if p%of != own {
				continue
			}
			plate, typ := contracttest.Plate(rng), contracttest.MixedType(rng)
			off := len(buf)
			buf = append(buf, plate...)
			mid := len(buf)
			buf = contracttest.AppendVehicle(buf, plate, "", t.at.UnixMilli(), typ, contracttest.RFC3339UTC)
			msgs = append(msgs, kafka.Message{
				Partition: p, Key: buf[off:mid:mid], Value: buf[mid:len(buf):len(buf)], Time: t.at,
				// The loader's own note of the type, for its tally; not sent.
				WriterData: typ,
			})
		}
		if lw.perTick {
			lw.produce(ctx, msgs)
		} else if err := lw.w.WriteMessages(ctx, msgs...); err != nil {
			lw.failed.Add(int64(len(msgs)))
		}
	}
}

// produce writes msgs in one produce request (acks=all) holding a record
// batch per partition, and tallies each partition's batch when the broker
// acknowledged it. A partition refused with a retriable error (such as
// Not Leader For Partition while a new topic's leaders are still being
// elected), or all of them after a transport error, is sent again, up to
// 10 attempts over about 6.5 s as the Writer's MaxAttempts and backoff;
// what is still not written counts as failed.
func (lw *loadWriter) produce(ctx context.Context, msgs []kafka.Message) {
	byPartition := map[int][]kafka.Message{}
	for _, m := range msgs {
		byPartition[m.Partition] = append(byPartition[m.Partition], m)
	}
	var err error
	backoff := 100 * time.Millisecond // the Writer's WriteBackoffMin, doubling up to its WriteBackoffMax
	for attempt := 0; attempt < 10 && len(byPartition) > 0 && ctx.Err() == nil; attempt++ {
		if attempt > 0 {
			time.Sleep(backoff)
			backoff = min(2*backoff, time.Second)
		}
		req := &produce.Request{Acks: -1, Timeout: 10_000, Topics: []produce.RequestTopic{{Topic: lw.w.Topic}}}
		for p, ms := range byPartition {
			recs := make([]protocol.Record, len(ms))
			for i, m := range ms {
				recs[i] = protocol.Record{Time: m.Time, Key: protocol.NewBytes(m.Key), Value: protocol.NewBytes(m.Value)}
			}
			req.Topics[0].Partitions = append(req.Topics[0].Partitions, produce.RequestPartition{
				Partition: int32(p), RecordSet: protocol.RecordSet{Version: 2, Records: protocol.NewRecordReader(recs...)},
			})
		}
		var res protocol.Message
		if res, err = lw.rt.RoundTrip(ctx, lw.w.Addr, req); err != nil {
			continue
		}
		for _, t := range res.(*produce.Response).Topics {
			for _, rp := range t.Partitions {
				p, code := int(rp.Partition), kafka.Error(rp.ErrorCode)
				switch {
				case code == 0:
					lw.completed(byPartition[p], nil)
					delete(byPartition, p)
				case !code.Temporary():
					lw.completed(byPartition[p], fmt.Errorf("partition %d: %w", p, code))
					delete(byPartition, p)
				default:
					err = code
				}
			}
		}
	}
	if err == nil {
		err = ctx.Err()
	}
	for _, ms := range byPartition {
		lw.completed(ms, fmt.Errorf("not written after 10 attempts: %w", err))
	}
}

// close flushes what is queued in the writer, waits for its completions and
// closes the connections (a Writer given a transport leaves them open).
func (lw *loadWriter) close() {
	err := lw.w.Close()
	lw.rt.CloseIdleConnections()
	lw.mu.Lock()
	defer lw.mu.Unlock()
	if err != nil && lw.firstErr == nil {
		lw.firstErr = err
	}
}

// chosenPartition sends each message to the partition the loader set on it.
type chosenPartition struct{}

func (chosenPartition) Balance(msg kafka.Message, _ ...int) int { return msg.Partition }
