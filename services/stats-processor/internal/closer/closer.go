package closer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
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
	SetWatermark(ctx context.Context, watermark int64, partitions int) error
	CloseThrough(ctx context.Context, token int64, partitions int, prev, through, watermark int64, emit func([]state.ClosedWindow) error) ([]state.ClosedWindow, error)
	TryLead(ctx context.Context, owner string, ttl time.Duration) (int64, error)
	ReleaseLead(ctx context.Context, owner string) error
}

// Partitions knows the input topic's partition count; *topics.Topics
// implements it.
type Partitions interface {
	// Partitions is the count, 0 until known.
	Partitions() int
	// Refresh reads the count from the brokers.
	Refresh(ctx context.Context) error
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
	parts   Partitions
	output  Sink
	metrics *metrics.Metrics
	log     *slog.Logger
	opts    Options
	nudge   chan struct{}
}

// New returns a closer that writes to output; Run starts it.
func New(et eventtime.Config, store Store, parts Partitions, output Sink, m *metrics.Metrics, log *slog.Logger, opts Options) *Closer {
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
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-c.nudge:
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
		// The holder learns the partition count every round, so that a
		// partition added to the topic holds the watermark (it has nothing
		// saved yet) before any window closes without it.
		fresh := true
		if token != 0 || time.Since(lastRefresh) > 10*time.Second || c.parts.Partitions() == 0 {
			if err := c.parts.Refresh(ctx); err != nil {
				c.metrics.CountErrors(metrics.Failed(metrics.Kafka, err))
				c.log.Debug("refresh partition count", "error", err)
				fresh = false
			}
			lastRefresh = time.Now()
		}
		err = c.round(ctx, token, fresh)
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

// round computes the pipeline watermark from the saved partition states
// and Redis's clock and, when holding the lease (token != 0) with a fresh
// partition count, closes every window it passed (state's CloseThrough:
// seal, emit the records and wait for the acks, mark closed, drop).
func (c *Closer) round(ctx context.Context, token int64, fresh bool) error {
	n := c.parts.Partitions()
	if n == 0 {
		return nil
	}
	var meta state.Meta
	if token != 0 {
		var err error
		if meta, err = c.store.ReadMeta(ctx); err != nil {
			return metrics.Failed(metrics.Redis, err)
		}
		// Partitions never go away: a count below the one recorded comes
		// from a broker whose metadata lags.
		n = max(n, meta.Partitions)
	}
	sts, now, err := c.store.Statuses(ctx, n)
	if err != nil {
		return metrics.Failed(metrics.Redis, err)
	}
	parts := make([]eventtime.PartitionStatus, n)
	for i, s := range sts {
		parts[i] = eventtime.PartitionStatus{
			Watermark: eventtime.WatermarkOf(s.MaxEventTime, c.et.Watermark.MaxOutOfOrderness),
			Idle:      s.Idle,
		}
	}
	wm := eventtime.PipelineWatermark(parts, now, c.et)
	if wm != eventtime.NoWatermark {
		c.metrics.Watermark.Set(float64(wm) / 1000)
		c.metrics.WatermarkLag.Set(float64(now-wm) / 1000)
	}
	if token == 0 || !fresh {
		return nil
	}
	through := eventtime.ClosedThrough(wm, c.et.Window.Size)
	if through == eventtime.NoWatermark || through <= meta.ClosedThrough {
		if wm != meta.Watermark && wm != eventtime.NoWatermark {
			return metrics.Failed(metrics.Redis, c.store.SetWatermark(ctx, wm, n))
		}
		return nil
	}
	closed, err := c.store.CloseThrough(ctx, token, n, meta.ClosedThrough, through, wm, func(ws []state.ClosedWindow) error {
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

// emit writes the records of closing windows and waits for the acks.
func (c *Closer) emit(ctx context.Context, ws []state.ClosedWindow) error {
	msgs := StatisticsRecords(ws, c.et.Window.Size.Milliseconds())
	if len(msgs) == 0 {
		return nil
	}
	if err := c.output.WriteMessages(ctx, msgs...); err != nil {
		return metrics.Failed(metrics.Kafka, fmt.Errorf("write %d statistics records: %w", len(msgs), err))
	}
	c.metrics.RecordsWritten.Add(float64(len(msgs)))
	return nil
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
