package consumer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/vehicle-stats/vehicle-stats/services/stats-processor/internal/eventtime"
	"github.com/vehicle-stats/vehicle-stats/services/stats-processor/internal/metrics"
	"github.com/vehicle-stats/vehicle-stats/services/stats-processor/internal/state"
	"github.com/vehicle-stats/vehicle-stats/services/stats-processor/internal/topics"
)

// Store is what the consumer needs of the state; *state.RedisStore
// implements it. Both methods are safe for concurrent use; a partition
// never saved loads with Saved false; Save applies a checkpoint atomically
// or returns a *state.FencedError (the caller reloads and replays).
type Store interface {
	Load(ctx context.Context, partition int) (state.PartitionState, error)
	Save(ctx context.Context, cp state.Checkpoint) (closedThrough int64, err error)
}

// Sink writes records and returns once the broker acknowledged all of them;
// *kafka.Writer implements it.
type Sink interface {
	WriteMessages(ctx context.Context, msgs ...kafka.Message) error
}

// Options complete a Consumer; a zero field takes its default.
type Options struct {
	// Checkpoint is how often each partition saves its state.
	Checkpoint CheckpointConfig
	// InstanceID names this instance in Redis, as a partition's owner.
	InstanceID string
	// OnProgress is called with the partition after a save that may let
	// windows close: the partition turned idle or busy, or its watermark passed the end of a
	// window (saved at once when the partition is caught up, so that live
	// windows close within milliseconds, not at the next interval); nothing
	// when nil.
	OnProgress func(partition int)
	// Now is the wall clock; time.Now when nil.
	Now func() time.Time
	// Side receives dead letters and late events (each message names its
	// topic); when nil, a topics.SideWriter, which sizes its writes below
	// each topic's max.message.bytes and cuts a record too large for it.
	Side Sink
}

// Consumer is one member of the processor's consumer group: one worker per
// assigned input partition fetches, decodes, counts, writes dead letters
// and late events, and checkpoints to the Store.
type Consumer struct {
	cfg     Config
	topics  topics.Config
	et      eventtime.Config
	opts    Options
	store   Store
	log     *slog.Logger
	metrics *metrics.Metrics
	dialer  *kafka.Dialer
	closers []func() error
	// loadSide reads the side topics' limits at start; nil for a Side
	// given in Options.
	loadSide func(context.Context) error

	joined   atomic.Bool
	groupErr atomic.Pointer[error]

	commitMu sync.Mutex
	commits  map[int]int64 // saved offsets not yet committed to the group

	beyondMu sync.Mutex
	beyond   map[int]beyondEnd // partitions whose saved offset is beyond the log end

	stuckMu sync.Mutex
	stuck   map[int]*sideFailures // partitions whose side writes failed, since their last success

	leaders leaders // the input partitions' leaders, for the workers' dials
	// fetchTransport makes the shared fetches' transport.
	fetchTransport func() (*kafka.Transport, error)
}

// beyondEnd is a saved offset found beyond its partition's log end.
type beyondEnd struct{ saved, end int64 }

// sideFailures are a partition's failed writes of dead letters and late
// events since its last successful one.
type sideFailures struct {
	attempts int
	since    time.Time
	last     error
}

// stuckAfter is how many failed side writes in a row make a partition
// stuck: named by /readyz, side_output_stuck 1, an error logged.
const stuckAfter = 3

// ErrSideWrite is wrapped by a partition worker's error when it could not
// write its dead letters and late events: the partition saves nothing and
// reads no further until that write succeeds (side records are written
// before the checkpoint that passes them, so none is lost).
var ErrSideWrite = errors.New("dead-letter/late records not written")

// ErrOffsetBeyondEnd is wrapped by a partition worker's error when the
// offset saved in Redis lies beyond the end of the partition's log: the
// topic was deleted and recreated, or the broker lost records (unclean
// leader election, a lost single-replica host). The saved state belongs to
// records that are gone; going on would mix two histories, so the
// partition stops, /readyz names it, and an operator runs
// `stats-processor reset`.
var ErrOffsetBeyondEnd = errors.New("saved offset is beyond the log end")

// New returns a consumer of t's input topic; Run starts it.
func New(cfg Config, t *topics.Topics, et eventtime.Config, store Store, m *metrics.Metrics, log *slog.Logger, opts Options) *Consumer {
	if opts.Checkpoint.Interval <= 0 {
		opts.Checkpoint.Interval = time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.OnProgress == nil {
		opts.OnProgress = func(int) {}
	}
	c := &Consumer{cfg: cfg, topics: t.Config(), et: et, store: store, log: log, metrics: m, dialer: t.Dialer(),
		commits: map[int]int64{}, beyond: map[int]beyondEnd{}, stuck: map[int]*sideFailures{}}
	c.leaders.lookup = c.lookupPartitions
	c.fetchTransport = t.FetchTransport
	if opts.Side == nil {
		dead := c.topics.DeadLetterTopic
		w := t.SideWriter(func(topic string, n int) {
			if topic == dead {
				m.DeadLettersTruncated.Add(float64(n))
			} else {
				m.LateTruncated.Add(float64(n))
			}
		})
		opts.Side = w
		c.closers = append(c.closers, w.Close)
		c.loadSide = func(ctx context.Context) error {
			err := w.Load(ctx, c.topics.DeadLetterTopic, c.topics.LateTopic)
			for _, topic := range []string{c.topics.DeadLetterTopic, c.topics.LateTopic} {
				if topic != "" {
					limit, read := w.Limit(topic)
					c.log.Debug("side topic limit", "topic", topic, "max_message_bytes", limit, "read_from_broker", read)
				}
			}
			return err
		}
	}
	c.opts = opts
	return c
}

// Close releases the writer New made.
func (c *Consumer) Close() error {
	var errs []error
	for _, f := range c.closers {
		errs = append(errs, f())
	}
	return errors.Join(errs...)
}

// Ready reports why the consumer is not working yet, or nil.
func (c *Consumer) Ready() error {
	if !c.joined.Load() {
		if e := c.groupErr.Load(); e != nil {
			return fmt.Errorf("not in consumer group %s: %w", c.cfg.GroupID, *e)
		}
		return fmt.Errorf("joining consumer group %s", c.cfg.GroupID)
	}
	return nil
}

// OffsetsReady reports the partitions this instance owns whose saved
// offset is beyond their log end, or nil.
func (c *Consumer) OffsetsReady() error {
	c.beyondMu.Lock()
	defer c.beyondMu.Unlock()
	if len(c.beyond) == 0 {
		return nil
	}
	ids := make([]int, 0, len(c.beyond))
	for p := range c.beyond {
		ids = append(ids, p)
	}
	slices.Sort(ids)
	var parts []string
	for _, p := range ids {
		b := c.beyond[p]
		if b.end == -2 {
			parts = append(parts, fmt.Sprintf("%s/%d holds another record before the saved offset %d", c.topics.InputTopic, p, b.saved))
			continue
		}
		parts = append(parts, fmt.Sprintf("%s/%d saved offset %d, log end %d", c.topics.InputTopic, p, b.saved, b.end))
	}
	return fmt.Errorf("%w: %s; the topic was recreated or lost records: stop every instance and run `stats-processor reset`",
		ErrOffsetBeyondEnd, strings.Join(parts, "; "))
}

// SideOutputsReady reports the partitions this instance owns whose dead
// letters and late events failed to write stuckAfter times in a row or
// more, with the last reason, or nil.
func (c *Consumer) SideOutputsReady() error {
	c.stuckMu.Lock()
	defer c.stuckMu.Unlock()
	var ids []int
	for p, f := range c.stuck {
		if f.attempts >= stuckAfter {
			ids = append(ids, p)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	slices.Sort(ids)
	var parts []string
	for _, p := range ids {
		f := c.stuck[p]
		parts = append(parts, fmt.Sprintf("%s/%d: %d failed attempts since %s: %v", c.topics.InputTopic, p, f.attempts,
			f.since.UTC().Format(time.RFC3339), f.last))
	}
	// Each reason wraps ErrSideWrite already.
	return fmt.Errorf("%s; %s", strings.Join(parts, "; "), sideAdvice)
}

// sideAdvice is what to do about a partition stuck on its side writes.
const sideAdvice = "the partition reads no further until the write succeeds: check that the dead-letter and late topics exist " +
	"and this client may write to them, the topics' max.message.bytes and min.insync.replicas, and the broker's log"

// sideFailed records a failed side write of a partition; at the
// stuckAfter-th in a row the partition is reported stuck.
func (c *Consumer) sideFailed(partition int, err error) {
	c.stuckMu.Lock()
	f := c.stuck[partition]
	if f == nil {
		f = &sideFailures{since: c.opts.Now()}
		c.stuck[partition] = f
	}
	f.attempts++
	f.last = err
	attempts, since := f.attempts, f.since
	c.stuckMu.Unlock()
	if attempts == stuckAfter {
		c.metrics.SideOutputStuck.WithLabelValues(strconv.Itoa(partition)).Set(1)
		c.log.Error("partition stuck: its dead-letter/late records failed to write "+strconv.Itoa(attempts)+" times in a row; "+sideAdvice,
			"partition", partition, "since", since, "error", err)
	}
}

// sideWritten clears a partition's failed side writes (its write
// succeeded, or it is not ours any more).
func (c *Consumer) sideWritten(partition int) {
	c.stuckMu.Lock()
	f := c.stuck[partition]
	delete(c.stuck, partition)
	c.stuckMu.Unlock()
	if f != nil && f.attempts >= stuckAfter {
		c.metrics.SideOutputStuck.WithLabelValues(strconv.Itoa(partition)).Set(0)
		c.log.Info("partition no longer stuck: its dead-letter/late records are written", "partition", partition, "failed_attempts", f.attempts)
	}
}

// markBeyondEnd records (end >= 0) or clears (end < 0) a partition whose
// saved offset is beyond its log end.
func (c *Consumer) markBeyondEnd(partition int, saved, end int64) {
	c.beyondMu.Lock()
	defer c.beyondMu.Unlock()
	g := c.metrics.OffsetBeyondEnd.WithLabelValues(strconv.Itoa(partition))
	if end == -1 {
		delete(c.beyond, partition)
		g.Set(0)
		return
	}
	c.beyond[partition] = beyondEnd{saved: saved, end: end}
	g.Set(1)
}

// idleLease is how long an idle report stays valid without renewal: long
// enough to survive a few missed checkpoints, short enough that a dead
// owner's partition soon holds the watermark again.
func (c *Consumer) idleLease() time.Duration {
	return max(3*c.opts.Checkpoint.Interval, 3*time.Second)
}

// Run consumes until ctx ends, then saves every partition's state, leaves
// the group and returns nil. It returns an error only when it cannot start.
func (c *Consumer) Run(ctx context.Context) error {
	if c.loadSide != nil {
		lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		if err := c.loadSide(lctx); err != nil {
			c.log.Warn("could not read the dead-letter and late topics' max.message.bytes; assuming the broker default until a write reads it",
				"default", topics.DefaultMaxMessageBytes, "error", err)
		}
		cancel()
	}
	group, err := kafka.NewConsumerGroup(kafka.ConsumerGroupConfig{
		ID:                     c.cfg.GroupID,
		Brokers:                c.topics.Brokers,
		Dialer:                 c.dialer,
		Topics:                 []string{c.topics.InputTopic},
		SessionTimeout:         c.cfg.SessionTimeout,
		HeartbeatInterval:      c.cfg.SessionTimeout / 5,
		RebalanceTimeout:       30 * time.Second,
		JoinGroupBackoff:       time.Second,
		WatchPartitionChanges:  true,
		PartitionWatchInterval: 10 * time.Second,
		StartOffset:            kafka.FirstOffset,
		ErrorLogger:            kafka.LoggerFunc(func(msg string, args ...any) { c.log.Debug("kafka group: " + fmt.Sprintf(msg, args...)) }),
	})
	if err != nil {
		return fmt.Errorf("consumer group %s: %w", c.cfg.GroupID, err)
	}
	for {
		gen, err := group.Next(ctx)
		if ctx.Err() != nil {
			c.log.Info("stopping: saving state and leaving the consumer group")
			c.joined.Store(false)
			closeErr := group.Close() // waits for every partition worker's final checkpoint
			c.log.Info("left the consumer group", "error", closeErr)
			return nil
		}
		if err != nil {
			c.joined.Store(false)
			c.groupErr.Store(&err)
			c.metrics.CountErrors(metrics.Failed(metrics.Kafka, err))
			c.log.Warn("consumer group error; retrying", "group", c.cfg.GroupID, "error", err)
			continue
		}
		c.groupErr.Store(nil)
		c.joined.Store(true)
		c.metrics.Rebalances.Inc()
		assigned := gen.Assignments[c.topics.InputTopic]
		ids := make([]int, len(assigned))
		for i, a := range assigned {
			ids[i] = a.ID
		}
		c.log.Info("joined consumer group", "group", c.cfg.GroupID, "generation", gen.ID, "member", gen.MemberID, "partitions", ids)
		c.metrics.Assigned.Set(float64(len(assigned)))
		c.metrics.ConsumerLag.Reset()
		var mux *fetchMux
		if len(ids) > c.cfg.FetchSharedAbove {
			if mux, err = c.startFetchMux(gen); err != nil {
				c.log.Warn("could not set up shared fetches; fetching each partition on a connection of its own", "error", err)
			}
		}
		for _, id := range ids {
			gen.Start(func(ctx context.Context) { c.runPartition(ctx, id, mux) })
		}
		gen.Start(func(ctx context.Context) { c.runCommitter(ctx, gen) })
	}
}

// startFetchMux starts the generation's shared fetches, on a transport of
// their own, closed with the generation.
func (c *Consumer) startFetchMux(gen *kafka.Generation) (*fetchMux, error) {
	transport, err := c.fetchTransport()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	mux := newFetchMux(ctx, c, transport)
	gen.Start(func(gctx context.Context) {
		<-gctx.Done()
		cancel()
		transport.CloseIdleConnections()
	})
	return mux, nil
}

// runCommitter copies saved offsets to the consumer group every few seconds,
// so lag tools see progress. Redis stays the source of truth.
func (c *Consumer) runCommitter(ctx context.Context, gen *kafka.Generation) {
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			c.commit(gen)
			return
		case <-t.C:
			c.commit(gen)
		}
	}
}

func (c *Consumer) commit(gen *kafka.Generation) {
	c.commitMu.Lock()
	if len(c.commits) == 0 {
		c.commitMu.Unlock()
		return
	}
	offsets := make(map[int]int64, len(c.commits))
	for k, v := range c.commits {
		offsets[k] = v
	}
	clear(c.commits)
	c.commitMu.Unlock()
	if err := gen.CommitOffsets(map[string]map[int]int64{c.topics.InputTopic: offsets}); err != nil {
		c.log.Debug("commit offsets to the consumer group failed (Redis holds them anyway)", "error", err)
	}
}

func (c *Consumer) savedOffset(partition int, offset int64) {
	c.commitMu.Lock()
	c.commits[partition] = offset
	c.commitMu.Unlock()
}
