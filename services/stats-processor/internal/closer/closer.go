package closer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/vehicle-stats/vehicle-stats/pkg/model"
	"github.com/vehicle-stats/vehicle-stats/pkg/serde"
	"github.com/vehicle-stats/vehicle-stats/services/stats-processor/internal/eventtime"
	"github.com/vehicle-stats/vehicle-stats/services/stats-processor/internal/metrics"
	"github.com/vehicle-stats/vehicle-stats/services/stats-processor/internal/state"
)

// Store is what the closer needs of the state; *state.RedisStore
// implements it. Every method is safe for concurrent use; a partition with
// nothing saved has Saved false; a pipeline that never closed a window has
// Meta.ClosedThrough NoWatermark; Statuses also returns the pipeline's clock
// (Redis's, epoch ms); TryLead returns a fencing token (0: not held) that
// CloseThrough checks in every step, returning state.ErrLeaseLost once a
// newer holder acted; repeating CloseThrough after a failure emits the same
// windows again.
type Store interface {
	Statuses(ctx context.Context, partitions int) ([]state.PartitionStatus, int64, error)
	ReadMeta(ctx context.Context) (state.Meta, error)
	ReadMetaAndClock(ctx context.Context) (state.Meta, int64, error)
	SetWatermark(ctx context.Context, watermark int64, partitions int) error
	CloseThrough(ctx context.Context, token int64, partitions int, prev, through, watermark int64, emit func([]state.ClosedWindow) ([]int64, error)) ([]state.ClosedWindow, error)
	RestoreClosed(ctx context.Context, token int64, partitions int, windows []state.ClosedWindow, through, watermark int64, outputEnd []int64) error
	TryLead(ctx context.Context, owner string, ttl time.Duration) (int64, error)
	Wakes(ctx context.Context) <-chan struct{}
	ReleaseLead(ctx context.Context, owner string) error
}

// Topics knows the input topic's partition count and reads the output
// topic back; *topics.Topics implements it.
type Topics interface {
	// Partitions is the input's partition count, 0 until known.
	Partitions() int
	// Refresh reads the count from the brokers.
	Refresh(ctx context.Context) error
	// OutputEnd returns the output topic's end offsets, by partition.
	OutputEnd(ctx context.Context) ([]int64, error)
	// OutputOffsets returns its first and end offsets, by partition.
	OutputOffsets(ctx context.Context) (first, end []int64, err error)
	// ReadOutput returns the records of an output partition in [from, to).
	ReadOutput(ctx context.Context, partition int, from, to int64) ([]kafka.Message, error)
}

// Sink writes records and returns once the broker acknowledged all of them;
// *kafka.Writer implements it.
type Sink interface {
	WriteMessages(ctx context.Context, msgs ...kafka.Message) error
}

// Options complete a Closer; a zero field takes its default.
type Options struct {
	// Interval is how often the closer computes the pipeline watermark and
	// looks for windows to close; 250 ms when zero.
	Interval time.Duration
	// InstanceID names this instance as the holder of the closer lease.
	InstanceID string
	// LeaseTTL is how long the closer lease lasts without renewal (by
	// Redis's clock); max(5 × Interval, 5 s) when zero.
	LeaseTTL time.Duration
}

// Closer computes the pipeline watermark from every partition's saved state
// and, while this instance holds the closer lease, closes the windows it
// passed and writes their VehicleStatistics records.
type Closer struct {
	et      eventtime.Config
	store   Store
	parts   Topics
	output  Sink
	metrics *metrics.Metrics
	log     *slog.Logger
	opts    Options
	nudge   chan struct{}
}

// New returns a closer that writes to output; Run starts it.
func New(et eventtime.Config, store Store, parts Topics, output Sink, m *metrics.Metrics, log *slog.Logger, opts Options) *Closer {
	if opts.Interval <= 0 {
		opts.Interval = 250 * time.Millisecond
	}
	if opts.LeaseTTL <= 0 {
		opts.LeaseTTL = max(5*opts.Interval, 5*time.Second)
	}
	return &Closer{et: et, store: store, parts: parts, output: output, metrics: m, log: log, opts: opts, nudge: make(chan struct{}, 1)}
}

// Nudge makes the closer run a round now rather than at its next tick (a
// partition turned idle or busy). It never blocks.
func (c *Closer) Nudge() {
	select {
	case c.nudge <- struct{}{}:
	default:
	}
}

// Run computes the pipeline watermark every Interval and, while this
// instance holds the closer lease, closes the windows it passed, until ctx
// ends; then it gives the lease up.
func (c *Closer) Run(ctx context.Context) {
	t := time.NewTicker(c.opts.Interval)
	defer t.Stop()
	lastRefresh := time.Now()
	var token int64 // the lease's fencing token while held, else 0
	defer func() {
		if token != 0 {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			_ = c.store.ReleaseLead(ctx, c.opts.InstanceID)
		}
	}()
	wakes := c.store.Wakes(ctx)
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-c.nudge:
		case <-wakes:
		}
		tok, err := c.store.TryLead(ctx, c.opts.InstanceID, c.opts.LeaseTTL)
		if err != nil {
			c.metrics.CountErrors(metrics.Failed(metrics.Redis, err))
			continue
		}
		if tok != token {
			c.log.Info("closer lease", "held", tok != 0, "token", tok)
			token = tok
		}
		if token != 0 {
			c.metrics.LastCloseLeader.Set(1)
		} else {
			c.metrics.LastCloseLeader.Set(0)
		}
		// The holder reads the partition count from a broker in every
		// round that closes a window, so that a partition added to the
		// topic holds the watermark (it has nothing saved yet) before any
		// window closes without it; otherwise every 10 s, for /stats.
		refresh := time.Since(lastRefresh) > 10*time.Second || c.parts.Partitions() == 0
		if refresh {
			lastRefresh = time.Now()
		}
		err = c.round(ctx, token, refresh)
		if errors.Is(err, state.ErrLeaseLost) {
			c.log.Warn("a newer closer fenced this one out; nothing of this round was kept", "token", token)
			token = 0
			continue
		}
		if err != nil {
			c.metrics.CountErrors(err)
			if ctx.Err() == nil {
				c.log.Warn("closing windows failed; retrying", "error", err)
			}
		}
	}
}

// kafkaReads are the Kafka requests of a closing round, made side by side:
// the input's partition count and the output topic's offsets (restore's
// starting point).
type kafkaReads struct {
	refreshErr error // the partition count could not be read
	first, end []int64
	offsetsErr error
}

func (c *Closer) readKafka(ctx context.Context) (r kafkaReads) {
	var wg sync.WaitGroup
	wg.Go(func() { r.first, r.end, r.offsetsErr = c.parts.OutputOffsets(ctx) })
	r.refreshErr = c.refresh(ctx)
	wg.Wait()
	return r
}

// refresh reads the input's partition count from the brokers.
func (c *Closer) refresh(ctx context.Context) error {
	err := c.parts.Refresh(ctx)
	if err != nil {
		c.metrics.CountErrors(metrics.Failed(metrics.Kafka, err))
		c.log.Debug("refresh partition count", "error", err)
	}
	return err
}

// round is one look at the pipeline: the lease holder's (token != 0) lead,
// anyone else's follow. refresh asks for the input's partition count to be
// read again (every 10 s, for /stats).
func (c *Closer) round(ctx context.Context, token int64, refresh bool) error {
	if token == 0 {
		return c.follow(ctx, refresh)
	}
	return c.lead(ctx, token, refresh)
}

// watermark reads meta and every partition's status (n of them, at least
// the count meta recorded: partitions never go away, and a lower count
// comes from a broker whose metadata lags) and computes the pipeline
// watermark on Redis's clock.
func (c *Closer) watermark(ctx context.Context, n int) (meta state.Meta, wm int64, parts int, err error) {
	if meta, err = c.store.ReadMeta(ctx); err != nil {
		return meta, 0, 0, metrics.Failed(metrics.Redis, err)
	}
	n = max(n, meta.Partitions)
	if n == 0 {
		return meta, eventtime.NoWatermark, 0, nil
	}
	sts, now, err := c.store.Statuses(ctx, n)
	if err != nil {
		return meta, 0, 0, metrics.Failed(metrics.Redis, err)
	}
	ps := make([]eventtime.PartitionStatus, n)
	for i, s := range sts {
		ps[i] = eventtime.PartitionStatus{
			Watermark: eventtime.WatermarkOf(s.MaxEventTime, c.et.Watermark.MaxOutOfOrderness),
			Idle:      s.Idle,
		}
	}
	wm = eventtime.PipelineWatermark(ps, now, c.et)
	c.report(wm, now)
	return meta, wm, n, nil
}

// report exports the pipeline watermark and its lag behind Redis's clock
// now (both epoch ms); nothing before there is a watermark.
func (c *Closer) report(wm, now int64) {
	if wm != eventtime.NoWatermark {
		c.metrics.Watermark.Set(float64(wm) / 1000)
		c.metrics.WatermarkLag.Set(float64(now-wm) / 1000)
	}
}

// lead is the lease holder's round. It computes the pipeline watermark from
// Redis (two round trips) and records it; most rounds end there. When a
// window's end is passed it reads, side by side, the input's partition
// count from a broker and the output topic's offsets; a count that grew
// means partitions were added, whose (empty) statuses hold the watermark,
// so it is computed again with them. Then it closes every window the
// watermark passed (state's CloseThrough: seal, emit the records and wait
// for the acks, mark closed, drop). Nothing closes on a partition count
// that could not be read this round.
func (c *Closer) lead(ctx context.Context, token int64, refresh bool) error {
	if c.parts.Partitions() == 0 {
		_ = c.refresh(ctx) // the first round: learn the count at all
		refresh = false
	}
	meta, wm, n, err := c.watermark(ctx, c.parts.Partitions())
	if err != nil || n == 0 {
		return err
	}
	through := eventtime.ClosedThrough(wm, c.et.Window.Size)
	if through == eventtime.NoWatermark || through <= meta.ClosedThrough {
		if refresh {
			_ = c.refresh(ctx) // for /stats; a closing round reads it below
		}
		if wm != meta.Watermark && wm != eventtime.NoWatermark {
			return metrics.Failed(metrics.Redis, c.store.SetWatermark(ctx, wm, n))
		}
		return nil
	}
	kr := c.readKafka(ctx)
	if kr.refreshErr != nil {
		return nil // counted and logged by refresh; the next round tries again
	}
	if m := c.parts.Partitions(); m > n {
		if meta, wm, n, err = c.watermark(ctx, m); err != nil {
			return err
		}
		if through = eventtime.ClosedThrough(wm, c.et.Window.Size); through == eventtime.NoWatermark || through <= meta.ClosedThrough {
			return nil
		}
	}
	if kr.offsetsErr != nil {
		return metrics.Failed(metrics.Kafka, kr.offsetsErr)
	}
	if restored, err := c.restore(ctx, token, n, meta, wm, kr.first, kr.end); err != nil || restored {
		return err // a restored round starts again from the new meta
	}
	closed, err := c.store.CloseThrough(ctx, token, n, meta.ClosedThrough, through, wm, func(ws []state.ClosedWindow) ([]int64, error) {
		return c.emit(ctx, ws)
	})
	if err != nil {
		var dep *metrics.DependencyError
		if !errors.As(err, &dep) && !errors.Is(err, state.ErrLeaseLost) {
			err = metrics.Failed(metrics.Redis, err) // not emit's: the store's
		}
		return err
	}
	c.metrics.WindowsClosed.Add(float64(len(closed)))
	for _, w := range closed {
		c.log.Info("window closed", "start", model.TimeFromMillis(w.Start), "total", w.Counts.Total(), "watermark", wm)
	}
	return nil
}

// emit writes the records of closing windows, waits for the acks, and
// returns the output topic's end offsets after them.
func (c *Closer) emit(ctx context.Context, ws []state.ClosedWindow) ([]int64, error) {
	size := c.et.Window.Size.Milliseconds()
	if msgs := StatisticsRecords(ws, size); len(msgs) > 0 {
		if err := c.output.WriteMessages(ctx, msgs...); err != nil {
			return nil, metrics.Failed(metrics.Kafka, fmt.Errorf("write %d statistics records: %w", len(msgs), err))
		}
		c.metrics.RecordsWritten.Add(float64(len(msgs)))
		written := time.Now()
		for _, w := range ws {
			c.metrics.ObserveEmitDelay(written.Sub(time.UnixMilli(w.Start + size)))
		}
	}
	end, err := c.parts.OutputEnd(ctx)
	if err != nil {
		return nil, metrics.Failed(metrics.Kafka, err)
	}
	return end, nil
}

// follow is the round of an instance that does not hold the lease: it
// reports the pipeline watermark the holder recorded last, with its lag on
// Redis's clock, from one round trip. Reading every partition's status
// here too would cost each instance a call per partition per round for a
// figure the holder has already computed (at 100 instances and 1,000
// partitions, 400,000 calls a second).
func (c *Closer) follow(ctx context.Context, refresh bool) error {
	if refresh {
		_ = c.refresh(ctx)
	}
	meta, now, err := c.store.ReadMetaAndClock(ctx)
	if err != nil {
		return metrics.Failed(metrics.Redis, err)
	}
	c.report(meta.Watermark, now)
	return nil
}

// restore runs before a close: when the output topic holds records beyond
// the end offsets Redis recorded with the last close, a close's mark was
// lost after its records were written (a crash between the two, Redis
// losing its last writes, a failover). Those records are the truth for
// their keys: the windows are marked closed with exactly their values
// (state's RestoreClosed), so that no key is ever written with a second,
// different value. It reports whether it restored anything.
// first and end are the output topic's offsets, read with the round.
func (c *Closer) restore(ctx context.Context, token int64, n int, meta state.Meta, wm int64, first, end []int64) (bool, error) {
	from := meta.Output
	if from == nil {
		// Redis lost the pipeline's meta (or it predates the record): a
		// fresh pipeline records the output's end at its first start, so
		// everything on the topic may be ours and unmarked.
		from = first
	}
	size := c.et.Window.Size.Milliseconds()
	byStart := map[int64]*state.ClosedWindow{}
	seen := map[string][]byte{}
	behind := false
	for p, to := range end {
		if p >= len(from) || to <= max(from[p], first[p]) {
			continue // an output partition added later is not read back
		}
		behind = true
		msgs, err := c.parts.ReadOutput(ctx, p, max(from[p], first[p]), to)
		if err != nil {
			return false, metrics.Failed(metrics.Kafka, err)
		}
		for _, m := range msgs {
			if prev, ok := seen[string(m.Key)]; ok {
				if !bytes.Equal(prev, m.Value) {
					c.log.Error("output key written twice with different values", "key", string(m.Key), "first", string(prev), "then", string(m.Value))
				}
				continue
			}
			seen[string(m.Key)] = m.Value
			st, err := serde.StatisticsCodec{}.Decode(m.Value)
			if err != nil {
				c.log.Warn("output record that is not a VehicleStatistics; ignored", "key", string(m.Key), "error", err)
				continue
			}
			start := st.Start.UnixMilli()
			w := byStart[start]
			if w == nil {
				w = &state.ClosedWindow{Start: start}
				byStart[start] = w
			}
			w.Counts[st.VehicleType.Index()] = st.Count
		}
	}
	if !behind {
		return false, nil
	}
	through := meta.ClosedThrough
	windows := make([]state.ClosedWindow, 0, len(byStart))
	for start, w := range byStart {
		if start+size > meta.ClosedThrough {
			windows = append(windows, *w)
			through = max(through, start+size)
		}
	}
	if err := c.store.RestoreClosed(ctx, token, n, windows, through, wm, end); err != nil {
		if errors.Is(err, state.ErrLeaseLost) {
			return false, err
		}
		return false, metrics.Failed(metrics.Redis, err)
	}
	if len(windows) > 0 {
		c.log.Warn("Redis was behind the output topic; closed windows restored from it", "windows", len(windows),
			"closed_through", model.TimeFromMillis(through))
	}
	return true, nil
}

// StatisticsRecords are the output records of closed windows: one per window
// and vehicle type with a non-zero count, keyed "<TYPE>:<start ms>", with
// the record timestamp end - 1 ms.
func StatisticsRecords(windows []state.ClosedWindow, size int64) []kafka.Message {
	var msgs []kafka.Message
	for _, w := range windows {
		start, end := model.TimeFromMillis(w.Start), model.TimeFromMillis(w.Start+size)
		for _, t := range model.VehicleTypes() {
			n := w.Counts[t.Index()]
			if n == 0 {
				continue
			}
			key := fmt.Appendf(nil, "%s:%d", t, w.Start)
			msgs = append(msgs, kafka.Message{
				Key:   key,
				Value: serde.AppendStatistics(nil, model.VehicleStatistics{Start: start, End: end, VehicleType: t, Count: n}),
				Time:  model.TimeFromMillis(w.Start + size - 1),
			})
		}
	}
	return msgs
}
