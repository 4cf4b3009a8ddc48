package closer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/vehicle-stats/vehicle-stats/pkg/model"
	"github.com/vehicle-stats/vehicle-stats/pkg/serde"
	"github.com/vehicle-stats/vehicle-stats/services/stats-processor/internal/eventtime"
	"github.com/vehicle-stats/vehicle-stats/services/stats-processor/internal/metrics"
	"github.com/vehicle-stats/vehicle-stats/services/stats-processor/internal/state"
)

// Store is what the closer needs of the state, in the small interfaces
// below; *state.RedisStore implements it. Every method is safe for
// concurrent use.
type Store interface {
	Lease
	Progress
	Closing
	Waker
}

// Lease is the closer lease. TryLead takes or renews it (state.Lead);
// ReleaseLead gives it up if owner holds it; Designate and Transfer hand
// it to another instance at a graceful stop (HandOver).
type Lease interface {
	TryLead(ctx context.Context, owner string, ttl time.Duration, floor int64) (state.Lead, error)
	ReleaseLead(ctx context.Context, owner string) error
	Designate(ctx context.Context, token int64, owner string, recent time.Duration, not string) (successor string, id int64, err error)
	Transfer(ctx context.Context, token int64, owner, successor string, id int64, ttl time.Duration) (int64, error)
}

// Progress is what the pipeline watermark is computed from and recorded
// in. StatusesOf reads the named partitions' statuses and the pipeline's
// clock (Redis's, epoch ms); a pipeline that never closed a window has
// Meta.ClosedThrough NoWatermark; SetWatermark refuses a token that no
// longer holds the lease with a *state.LeaseLostError.
type Progress interface {
	StatusesOf(ctx context.Context, partitions []int) ([]state.PartitionStatus, int64, error)
	ReadMeta(ctx context.Context) (state.Meta, error)
	ReadMetaAndClock(ctx context.Context) (state.Meta, int64, error)
	SetWatermark(ctx context.Context, token int64, owner string, watermark int64, partitions int) error
}

// Closing runs the closing protocol's steps with the closer's Steps between
// them, and refuses a stale token with a *state.LeaseLostError.
type Closing interface {
	CloseThrough(ctx context.Context, r state.Round, steps state.Steps) ([]state.ClosedWindow, error)
}

// Waker delivers the wakes of every instance's partitions (a save that may
// let windows close) until ctx ends, merged: the partitions named since the
// last receive.
type Waker interface {
	Wakes(ctx context.Context) <-chan state.Woken
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
	// Config is the closer's setting from the configuration: Interval,
	// how often it runs.
	Config
	// InstanceID names this instance as the holder of the closer lease.
	InstanceID string
	// LeaseTTL is how long the closer lease lasts without renewal (by
	// Redis's clock); max(5 × Interval, 5 s) when zero. A round ends
	// before its lease would (RoundBudget).
	LeaseTTL time.Duration
	// WriteBound is the longest a write of the output can take from its
	// start until it lands or fails for good (the writer's attempts times
	// its per-attempt timeout and backoff); 7 s when zero. A new holder
	// waits LeaseTTL + WriteBound before it reads the output back, so a
	// previous holder's write has landed by then.
	WriteBound time.Duration
	// Now is the closer's monotonic clock (time.Now when nil): the round's
	// deadline and the new holder's wait are measured on it.
	Now func() time.Time
	// Pause, when set, runs before every step of a round with the step's
	// name ("lead", "watermark", "kafka", then CloseThrough's steps) and
	// may block: a test's scheduler interleaves closers there. nil in
	// production.
	Pause func(ctx context.Context, step string)
	// Closed, when set, is called with every window a round closed, after
	// its mark (a test's model checks the windows' Uncounted events with
	// it). nil in production.
	Closed func(state.ClosedWindow)
	// StallAfter is how long windows may be due without any closing
	// round succeeding before Check reports the closer stalled; max(30 s,
	// 2 × (LeaseTTL + WriteBound)) when zero.
	StallAfter time.Duration
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
	nudgeMu sync.Mutex
	nudged  state.Woken // the partitions Nudge named since Run last took them

	// The lease, as this instance holds it (touched by Round and
	// HandOverRound only, on one goroutine).
	token       int64     // the fencing token while held, else 0
	floor       int64     // the lowest token to ask for: one above a fence that refused ours
	leaseEnd    time.Time // the current round's deadline: the lease's end less a margin, on Now
	notBefore   time.Time // no reading back (so no deciding) before then: a predecessor's or our own write may land until then
	lastRefresh time.Time
	// known are the partition statuses of the holder's last full read,
	// with the named reads of wake rounds since applied; nil: none, the
	// next round reads them all. Only the holder keeps them, and only
	// while nothing went wrong (see Round).
	known []eventtime.PartitionStatus
	// lastFull is when the holder last read every status (on Now).
	lastFull   time.Time
	lease      state.Lead    // the last TryLead's answer
	designated observation   // the last designation of this instance as successor, as first observed
	handing    handing       // this instance's handover of the lease (HandOver)
	handOver   chan struct{} // HandOver's request to Run
	stopped    chan struct{} // closed when Run returns

	mu        sync.Mutex
	dueSince  time.Time // when windows were first seen due and not closed since (zero: none due)
	lastError error     // the last closing round's error
}

// New returns a closer that writes to output; Run starts it.
func New(et eventtime.Config, store Store, parts Topics, output Sink, m *metrics.Metrics, log *slog.Logger, opts Options) *Closer {
	if opts.Interval <= 0 {
		opts.Interval = 250 * time.Millisecond
	}
	if opts.LeaseTTL <= 0 {
		opts.LeaseTTL = max(5*opts.Interval, 5*time.Second)
	}
	if opts.WriteBound <= 0 {
		opts.WriteBound = 7 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.StallAfter <= 0 {
		opts.StallAfter = max(30*time.Second, 2*(opts.LeaseTTL+opts.WriteBound))
	}
	return &Closer{et: et, store: store, parts: parts, output: output, metrics: m, log: log, opts: opts, nudge: make(chan struct{}, 1),
		handOver: make(chan struct{}), stopped: make(chan struct{})}
}

// Nudge makes the closer run a round now rather than at its next tick,
// for partition of this instance (it turned idle or busy, or passed a
// window's end). It never blocks.
func (c *Closer) Nudge(partition int) {
	c.nudgeMu.Lock()
	c.nudged.Add(partition)
	c.nudgeMu.Unlock()
	select {
	case c.nudge <- struct{}{}:
	default:
	}
}

// Run runs a round every Interval, which reads every partition's status
// (with many partitions, every fullReadEvery; the Redis clock only in
// between), and at once when woken, which reads the woken partitions'
// only; until ctx ends or a handover (HandOver) is done; then it gives the
// lease up if it still holds it.
func (c *Closer) Run(ctx context.Context) {
	defer close(c.stopped)
	t := time.NewTicker(c.opts.Interval)
	defer t.Stop()
	defer c.Release()
	wakes := c.store.Wakes(ctx)
	handing := false
	for {
		var woken []int
		select {
		case <-ctx.Done():
			return
		case <-c.handOver:
			handing = true
		case <-t.C:
		case <-c.nudge:
			c.nudgeMu.Lock()
			w := c.nudged
			c.nudged = state.Woken{}
			c.nudgeMu.Unlock()
			woken = w.Partitions()
		case w := <-wakes:
			woken = w.Partitions()
		}
		if !handing {
			c.Round(ctx, woken...)
		} else if c.HandOverRound(ctx, woken...) {
			return
		}
	}
}

// Release gives the lease up if this instance holds it.
func (c *Closer) Release() {
	if c.token == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = c.store.ReleaseLead(ctx, c.opts.InstanceID)
	c.token, c.known = 0, nil
}

// errWaiting ends a round that may not read the output back yet: a write
// of a previous holder, or our own that failed, may still land.
var errWaiting = errors.New("waiting out the writes a previous closing round may still have in flight")

// errDeadline ends a round that reached its deadline inside the lease.
var errDeadline = errors.New("closing round reached its deadline inside the closer lease")

// Round is one look at the pipeline: take or renew the lease, then the
// holder's lead, anyone else's follow. Run calls it; tests call it as
// their scheduler's step. With no partitions woken (the tick, a lease just
// taken, a wake that named none) the holder reads every partition's
// status; with woken partitions named, theirs only, and the others'
// from its last full read.
func (c *Closer) Round(ctx context.Context, woken ...int) {
	c.pause(ctx, "lead")
	asked := c.opts.Now()
	lead, err := c.store.TryLead(ctx, c.opts.InstanceID, c.opts.LeaseTTL, c.floor)
	if err != nil {
		c.metrics.CountErrors(metrics.Failed(metrics.Redis, err))
		return
	}
	c.lease = lead
	tok, fresh := lead.Token, lead.AfterAnother
	if tok != c.token {
		c.log.Info("closer lease", "held", tok != 0, "token", tok)
		if tok != 0 && lead.Handed != 0 {
			fresh = !c.takeOver(lead.Handed)
		}
		c.token, c.known = tok, nil // a new holder reads every status first
	}
	if tok != 0 {
		c.metrics.LastCloseLeader.Set(1)
		// The lease runs TTL from Redis's receipt of the call, which is
		// after asked; the round keeps a fifth of it as a margin.
		c.leaseEnd = asked.Add(c.opts.LeaseTTL - c.opts.LeaseTTL/5)
		if fresh {
			// A previous holder may still be in a round, which ends
			// within its lease, and its last write may land up to
			// WriteBound later: also when Redis lost its lease record.
			c.notBefore = later(c.notBefore, asked.Add(c.grace()))
		}
	} else {
		c.observe(lead.Designated)
		c.metrics.LastCloseLeader.Set(0)
		c.setDue(time.Time{}, nil)
	}
	// The holder reads the partition count from a broker in every round
	// that closes a window, so that a partition added to the topic holds
	// the watermark (it has nothing saved yet) before any window closes
	// without it; otherwise every 10 s, for /stats.
	refresh := c.opts.Now().Sub(c.lastRefresh) > 10*time.Second || c.parts.Partitions() == 0
	if refresh {
		c.lastRefresh = c.opts.Now()
	}
	if c.token == 0 {
		c.countError(c.follow(ctx, refresh))
		return
	}
	rctx, cancel := context.WithDeadline(ctx, c.deadlineOnWallClock())
	defer cancel()
	err = c.lead(rctx, ctx, refresh, woken)
	if err != nil && !errors.Is(err, errWaiting) {
		c.known = nil // whatever went wrong, the next round reads every status again
	}
	if err != nil && rctx.Err() != nil && ctx.Err() == nil && !errors.Is(err, errDeadline) {
		err = fmt.Errorf("%w: %w", errDeadline, err) // a slow dependency ran the round out of its lease
	}
	var lost *state.LeaseLostError
	switch {
	case errors.As(err, &lost):
		c.log.Warn("the closer lease was lost; nothing of this round was kept; giving the lease up", "token", c.token, "step", lost.Step, "fence", lost.Fence)
		c.floor = max(c.floor, lost.Fence+1)
		c.Release()
	case errors.Is(err, errWaiting):
		c.log.Debug("closer waits before reading the output back", "for", c.notBefore.Sub(c.opts.Now()).Round(time.Millisecond))
	case errors.Is(err, state.ErrDecisionLost):
		c.log.Warn("Redis lost this round's decisions (it went back in time); the next round reads the output back and decides again", "token", c.token)
	case errors.Is(err, state.ErrSealLost):
		c.log.Warn("Redis lost this round's seal before its decision (it went back in time); nothing was decided; the next round seals again", "token", c.token)
	case errors.Is(err, state.ErrNotReady), errors.Is(err, state.ErrMorePartitions):
		c.log.Debug("closing round ended early; the next one reads the partitions again", "reason", err)
		c.lastRefresh = time.Time{}
	case errors.Is(err, state.ErrShapeChanged):
		c.metrics.CountErrors(err)
		c.log.Error("closing refused", "error", err)
	default:
		c.countError(err)
	}
}

// deadlineOnWallClock converts the round's deadline to the wall clock for
// contexts.
func (c *Closer) deadlineOnWallClock() time.Time {
	return time.Now().Add(c.leaseEnd.Sub(c.opts.Now()))
}

func (c *Closer) countError(err error) {
	if err == nil {
		return
	}
	c.metrics.CountErrors(err)
	c.mu.Lock()
	c.lastError = err
	c.mu.Unlock()
	c.log.Warn("closing windows failed; retrying", "error", err)
}

func (c *Closer) pause(ctx context.Context, step string) {
	if c.opts.Pause != nil {
		c.opts.Pause(ctx, step)
	}
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// check runs before each step of a closing round: the test's pause point,
// then the round's deadline inside the lease; reading the output back (and
// so deciding) waits until no earlier write can land any more.
func (c *Closer) check(ctx context.Context, step string) error {
	c.pause(ctx, step)
	now := c.opts.Now()
	if !now.Before(c.leaseEnd) {
		return fmt.Errorf("%w (before %s)", errDeadline, step)
	}
	if step == "read back" && now.Before(c.notBefore) {
		return errWaiting
	}
	if step != "emit" {
		// The step's request is on its way: a pause here is one that
		// delivers it late, which only Redis's own checks (fences, the
		// lease) can refuse. (A write to Kafka delayed so is outside the
		// model: every write lands within WriteBound of its start.)
		c.pause(ctx, step+" (sent)")
	}
	return nil
}

// Check reports the closer stalled (for /readyz) when windows have been
// due for StallAfter and no closing round has closed them.
func (c *Closer) Check(context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.dueSince.IsZero() {
		return nil
	}
	if d := c.opts.Now().Sub(c.dueSince); d > c.opts.StallAfter {
		return fmt.Errorf("windows due for %s and none closed; last error: %v", d.Round(time.Second), c.lastError)
	}
	return nil
}

// setDue records whether windows are due (since when) and the round's
// error.
func (c *Closer) setDue(since time.Time, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if since.IsZero() {
		c.dueSince = time.Time{}
	} else if c.dueSince.IsZero() {
		c.dueSince = since
	}
	if err != nil {
		c.lastError = err
	}
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

// watermark reads meta and the partitions' statuses (n of them, at least
// the count meta recorded: partitions never go away, and a lower count
// comes from a broker whose metadata lags) and computes the pipeline
// watermark on Redis's clock. With woken named, and the statuses of a full
// read of n partitions known, it reads the woken partitions' statuses only
// (and the clock) and takes the others' from c.known; otherwise every
// partition's, which become c.known.
//
// A status known from an earlier read may be stale: an idle lease may have
// run out, or Redis gone back in time, since. The watermark computed from
// it may then be too high, and the windows it passed not closable yet; but
// nothing closes on it: CloseThrough's seal reads every partition's largest
// event time and idle lease again, in the script that seals it, and
// refuses the round (state.ErrNotReady) when one does not let the windows
// close. A stale status therefore delays a close until the next full read
// (Round drops c.known after the refusal; the tick reads them all anyway),
// and never closes a window early.
func (c *Closer) watermark(ctx context.Context, n int, woken []int) (meta state.Meta, wm int64, parts int, err error) {
	if meta, err = c.store.ReadMeta(ctx); err != nil {
		return meta, 0, 0, metrics.Failed(metrics.Redis, err)
	}
	n = max(n, meta.Partitions)
	if n == 0 {
		return meta, eventtime.NoWatermark, 0, nil
	}
	named := woken
	if every := fullReadEvery(c.opts.Interval, n); len(named) == 0 && len(c.known) == n && every > c.opts.Interval &&
		c.opts.Now().Sub(c.lastFull) < every {
		// A tick between two full reads of many partitions: the clock
		// only, for idle leases and the watermark's lag.
		named = []int{}
	} else if len(named) == 0 || len(c.known) != n || slices.Max(named) >= n {
		// A full read: the tick's, a holder's first, or partitions added
		// (more registered in meta, or a wake from beyond the count).
		named = make([]int, n)
		for i := range named {
			named[i] = i
		}
		c.known = make([]eventtime.PartitionStatus, n)
		c.lastFull = c.opts.Now()
	}
	sts, now, err := c.store.StatusesOf(ctx, named)
	if err != nil {
		c.known = nil
		return meta, 0, 0, metrics.Failed(metrics.Redis, err)
	}
	for i, s := range sts {
		c.known[named[i]] = eventtime.PartitionStatus{
			Watermark: eventtime.WatermarkOf(s.MaxEventTime, c.et.Watermark.MaxOutOfOrderness),
			Idle:      s.Idle,
		}
	}
	wm = eventtime.PipelineWatermark(c.known, now, c.et)
	c.report(wm, now)
	return meta, wm, n, nil
}

// statusReadsPerSecond bounds the lease holder's full reads: with more
// partitions than it reads in a close interval, the full read (the
// authority, which catches a lost wake, an idle lease that ran out and a
// partition catching up, none of which wakes the closer) runs less often
// than the tick, so that the holder's reads do not grow with the
// partitions; the ticks between read Redis's clock only.
const statusReadsPerSecond = 1000

// fullReadEvery is how often the holder reads every one of n partitions'
// statuses: every tick up to statusReadsPerSecond × interval partitions
// (250 at the default 250 ms), then every n / statusReadsPerSecond s.
func fullReadEvery(interval time.Duration, n int) time.Duration {
	return max(interval, time.Duration(n)*time.Second/statusReadsPerSecond)
}

// report exports the pipeline watermark and its lag behind Redis's clock
// now (both epoch ms); nothing before there is a watermark.
func (c *Closer) report(wm, now int64) {
	if wm != eventtime.NoWatermark {
		c.metrics.Watermark.Set(float64(wm) / 1000)
		c.metrics.WatermarkLag.Set(float64(now-wm) / 1000)
	}
}

// lead is the lease holder's round, on rctx (which ends at the round's
// deadline inside the lease; ctx is the closer's own, for the write). It
// computes the pipeline watermark from Redis (two round trips) and records
// it; most rounds end there. When a window's end is passed, or decisions
// wait to be written, it reads the input's partition count from a broker;
// a count that grew means partitions were added, whose (empty) statuses
// hold the watermark, so it is computed again with them. Then state's
// CloseThrough closes every window the watermark passed: seal, read back,
// decide, emit, mark, drop. Nothing closes on a partition count that could
// not be read this round.
func (c *Closer) lead(rctx, ctx context.Context, refresh bool, woken []int) error {
	if c.parts.Partitions() == 0 {
		_ = c.refresh(rctx) // the first round: learn the count at all
		refresh = false
	}
	c.pause(rctx, "watermark")
	meta, wm, n, err := c.watermark(rctx, c.parts.Partitions(), woken)
	if err != nil || n == 0 {
		return err
	}
	through := max(eventtime.ClosedThrough(wm, c.et.Window.Size), meta.Decided)
	if through == eventtime.NoWatermark || through <= meta.ClosedThrough {
		c.setDue(time.Time{}, nil)
		if refresh {
			_ = c.refresh(rctx) // for /stats; a closing round reads it below
		}
		if wm != meta.Watermark && wm != eventtime.NoWatermark {
			return metrics.Failed(metrics.Redis, c.store.SetWatermark(rctx, c.token, c.opts.InstanceID, wm, n))
		}
		return nil
	}
	c.setDue(c.opts.Now(), nil)
	c.pause(rctx, "kafka")
	if err := c.refresh(rctx); err != nil {
		return nil // counted and logged by refresh; the next round tries again
	}
	if m := c.parts.Partitions(); m > n {
		if meta, wm, n, err = c.watermark(rctx, m, nil); err != nil {
			return err
		}
		if through = max(eventtime.ClosedThrough(wm, c.et.Window.Size), meta.Decided); through == eventtime.NoWatermark || through <= meta.ClosedThrough {
			return nil
		}
	}
	round := state.Round{
		Token: c.token, Owner: c.opts.InstanceID, Partitions: n, Through: through, Watermark: wm,
		MaxOutOfOrderness: c.et.Watermark.MaxOutOfOrderness.Milliseconds(),
	}
	closed, err := c.store.CloseThrough(rctx, round, state.Steps{
		Check:    func(step string) error { return c.check(rctx, step) },
		ReadBack: func(from []int64) ([]state.OutputRecord, []int64, error) { return c.readBack(rctx, from) },
		Emit:     func(ws []state.ClosedWindow) ([]int64, error) { return c.emit(ctx, ws) },
	})
	if err != nil {
		var dep *metrics.DependencyError
		if !errors.As(err, &dep) && !errors.Is(err, state.ErrLeaseLost) && !errors.Is(err, errWaiting) &&
			!errors.Is(err, errDeadline) && !errors.Is(err, state.ErrNotReady) && !errors.Is(err, state.ErrMorePartitions) &&
			!errors.Is(err, state.ErrShapeChanged) && !errors.Is(err, state.ErrDecisionLost) && !errors.Is(err, state.ErrSealLost) {
			err = metrics.Failed(metrics.Redis, err) // not the closer's: the store's
		}
		c.setDue(c.opts.Now(), err)
		return err
	}
	c.setDue(time.Time{}, nil)
	c.metrics.WindowsClosed.Add(float64(len(closed)))
	for _, w := range closed {
		c.log.Info("window closed", "start", model.TimeFromMillis(w.Start), "total", w.Counts.Total(), "watermark", wm)
		if n := w.Uncounted.Total(); n > 0 {
			c.metrics.Late.Add(float64(n))
			c.log.Error("window emitted, then Redis lost its decision (a failover or restart that lost writes): the events counted in it since, "+
				"by partitions added later or by idle partitions taking stragglers, are late; counted in late_events_total, not written to the late topic",
				"start", model.TimeFromMillis(w.Start), "late", n, "uncounted_by_type", w.Uncounted, "partitions", round.Partitions)
		}
		if c.opts.Closed != nil {
			c.opts.Closed(w)
		}
	}
	return nil
}

// emit writes the records of decided windows, waits for the acks, and
// returns the output topic's end offsets after them. The write gets
// WriteBound; when it fails, it may still land until then, so the closer
// reads nothing back before.
func (c *Closer) emit(ctx context.Context, ws []state.ClosedWindow) ([]int64, error) {
	size := c.et.Window.Size.Milliseconds()
	if msgs := StatisticsRecords(ws, size); len(msgs) > 0 {
		started := c.opts.Now()
		wctx, cancel := context.WithTimeout(ctx, c.opts.WriteBound)
		t0 := time.Now()
		err := c.output.WriteMessages(wctx, msgs...)
		c.metrics.OutputWrite.Observe(time.Since(t0).Seconds())
		cancel()
		if err != nil {
			c.notBefore = later(c.notBefore, started.Add(c.opts.WriteBound))
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

// readBack returns the output records beyond from (the end offsets the
// last mark recorded; nil when Redis has none: then the whole topic may be
// ours and unmarked) and the output topic's end offsets. Records beyond the
// last mark were written by a close whose mark Redis lost (a crash between
// the two, Redis losing its last writes, a failover), or whose write was
// partly done: they pin their keys' values, so that no key is ever written
// with a second, different value. Reads are bounded by ctx (the round's
// deadline) and by the end offsets read first.
func (c *Closer) readBack(ctx context.Context, from []int64) ([]state.OutputRecord, []int64, error) {
	first, end, err := c.parts.OutputOffsets(ctx)
	if err != nil {
		return nil, nil, metrics.Failed(metrics.Kafka, err)
	}
	if from == nil {
		from = first
	}
	size := c.et.Window.Size.Milliseconds()
	var msgs []kafka.Message
	for p, to := range end {
		if p >= len(from) {
			continue // an output partition added later is not read back
		}
		if to < from[p] {
			c.log.Error("the output topic's partition ends before the offset recorded with the last close: was it deleted and created again? Records are read back from its start",
				"partition", p, "end", to, "recorded", from[p])
		}
		start := max(min(from[p], to), first[p])
		if to <= start {
			continue
		}
		got, err := c.parts.ReadOutput(ctx, p, start, to)
		if err != nil {
			return nil, nil, metrics.Failed(metrics.Kafka, err)
		}
		msgs = append(msgs, got...)
	}
	out, problems := OutputRecords(msgs, size)
	for _, p := range problems {
		if p.Err != nil {
			c.log.Warn("output record that is not a VehicleStatistics; ignored", "key", string(p.Record.Key), "error", p.Err)
		} else if p.Earlier != nil {
			c.log.Error("output key written twice with different values", "key", string(p.Record.Key), "first", string(p.Earlier), "then", string(p.Record.Value))
		} else {
			c.log.Error("output record of another window size; ignored (the output topic is shared with another pipeline?)", "key", string(p.Record.Key), "value", string(p.Record.Value))
		}
	}
	if len(out) > 0 {
		c.log.Warn("records on the output topic that Redis does not know of; their values are kept", "records", len(out))
	}
	return out, end, nil
}

// OutputProblem is an output record read back that OutputRecords did not
// take: one that is not a VehicleStatistics (Err), a key seen before with
// another value (Earlier, the first value), or a record of another window
// size (neither).
type OutputProblem struct {
	Record  kafka.Message
	Err     error
	Earlier []byte
}

// OutputRecords is the pure part of reading the output back: the decided
// values in records of windows of size ms, the first record of each key
// (a repeat with the same bytes is a crash's repeat, one with other bytes a
// conflict the protocol excludes), with the partition counts their headers
// give; and the records it did not take.
func OutputRecords(msgs []kafka.Message, size int64) ([]state.OutputRecord, []OutputProblem) {
	seen := map[string][]byte{}
	var out []state.OutputRecord
	var problems []OutputProblem
	for _, m := range msgs {
		if prev, ok := seen[string(m.Key)]; ok {
			if !bytes.Equal(prev, m.Value) {
				problems = append(problems, OutputProblem{Record: m, Earlier: prev})
			}
			continue
		}
		seen[string(m.Key)] = m.Value
		st, err := serde.StatisticsCodec{}.Decode(m.Value)
		if err != nil {
			problems = append(problems, OutputProblem{Record: m, Err: err})
			continue
		}
		if st.End.Sub(st.Start).Milliseconds() != size {
			problems = append(problems, OutputProblem{Record: m})
			continue
		}
		out = append(out, state.OutputRecord{Start: st.Start.UnixMilli(), Type: st.VehicleType.Index(), Count: st.Count, Partitions: decisionPartitions(m)})
	}
	return out, problems
}

// PartitionsHeader is the output record header that carries the number of
// input partitions its count covers (the decision's), in decimal. Reading
// records back, the closer learns from it which partitions' counts a
// decision Redis lost can include.
const PartitionsHeader = "partitions"

// StatisticsRecords are the output records of closed windows: one per window
// and vehicle type with a non-zero count, keyed "<TYPE>:<start ms>", with
// the record timestamp end - 1 ms and, when known, the PartitionsHeader.
func StatisticsRecords(windows []state.ClosedWindow, size int64) []kafka.Message {
	var msgs []kafka.Message
	for _, w := range windows {
		start, end := model.TimeFromMillis(w.Start), model.TimeFromMillis(w.Start+size)
		for _, t := range model.VehicleTypes() {
			n := w.Counts[t.Index()]
			if n == 0 {
				continue
			}
			var headers []kafka.Header
			if p := w.Partitions[t.Index()]; p > 0 {
				headers = []kafka.Header{{Key: PartitionsHeader, Value: strconv.AppendInt(nil, int64(p), 10)}}
			}
			key := fmt.Appendf(nil, "%s:%d", t, w.Start)
			msgs = append(msgs, kafka.Message{
				Key:     key,
				Value:   serde.AppendStatistics(nil, model.VehicleStatistics{Start: start, End: end, VehicleType: t, Count: n}),
				Time:    model.TimeFromMillis(w.Start + size - 1),
				Headers: headers,
			})
		}
	}
	return msgs
}

// decisionPartitions is a read-back record's PartitionsHeader, 0 when it
// has none (written by an older version) or it is not a count.
func decisionPartitions(m kafka.Message) int {
	for _, h := range m.Headers {
		if h.Key == PartitionsHeader {
			if n, err := strconv.Atoi(string(h.Value)); err == nil && n > 0 {
				return n
			}
		}
	}
	return 0
}
