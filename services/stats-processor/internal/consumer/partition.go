package consumer

import (
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"github.com/vehicle-stats/vehicle-stats/pkg/model"
	"github.com/vehicle-stats/vehicle-stats/pkg/serde"
	"github.com/vehicle-stats/vehicle-stats/services/stats-processor/internal/eventtime"
	"github.com/vehicle-stats/vehicle-stats/services/stats-processor/internal/metrics"
	"github.com/vehicle-stats/vehicle-stats/services/stats-processor/internal/state"
	"github.com/vehicle-stats/vehicle-stats/services/stats-processor/internal/topics"
)

// runPartition owns one input partition for one consumer-group generation:
// it consumes, counts and checkpoints until ctx ends, and after any error
// starts over from the state saved in Redis.
func (c *Consumer) runPartition(ctx context.Context, partition int, mux *fetchMux) {
	log := c.log.With("partition", partition)
	backoff := newBackoff(200*time.Millisecond, 10*time.Second)
	defer c.markBeyondEnd(partition, 0, -1) // not ours to report any more
	defer c.metrics.ForgetPartition(partition)
	defer c.sideWritten(partition)
	for {
		progressed, err := c.consumePartition(ctx, partition, mux)
		c.metrics.CountErrors(err)
		if ctx.Err() != nil {
			return
		}
		if errors.Is(err, ErrSideWrite) {
			// The replay rebuilds the same records: counted until a write
			// of them succeeds, so that a write that can never succeed
			// shows (/readyz, side_output_stuck, an error logged).
			c.sideFailed(partition, err)
		}
		if progressed {
			// A worker that saved something was healthy: its failure is a
			// new incident, not the next of a series.
			backoff.reset()
		}
		if errors.Is(err, state.ErrFenced) {
			c.metrics.Fenced.Inc()
			log.Info("checkpoint fenced; reloading the partition from Redis and replaying", "reason", err)
			continue
		}
		wait := backoff.next()
		log.Warn("partition worker failed; resuming from the last saved state", "error", err, "retry_in", wait)
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

// worker is the state of one partition between two reloads.
type worker struct {
	c         *Consumer
	partition int
	et        *eventtime.Partition
	expected  int64 // offset saved in Redis (-1: none)
	offset    int64 // next offset to read
	highWater int64
	lag       prometheus.Gauge // consumer lag of this partition
	lastAct   time.Time        // the last record's arrival, or the start (monotonic: a wall-clock step does not make a partition idle)
	lastSave  time.Time
	idleSaved bool
	savedMax  int64           // largest event time at the last save (NoWatermark: none)
	pending   []kafka.Message // dead letters and late events to write before the next save
	// pendingBytes is pending's size as topics.MessageSize counts it; at
	// the consumer's SidePendingMaxBytes the worker stops reading and saves.
	pendingBytes int64
	counted      [model.NumVehicleTypes]int64
	late         int64
	dead         [metrics.NumDeadLetterReasons]int64
	dirty        bool // offset moved since the last save
	// lastMsg is the record just before offset, read this session (its
	// fingerprint is saved with the offset: RecordFingerprint).
	lastMsg kafka.Message
	// haveLast says lastMsg holds a record (kept by value: a pointer to
	// each record read made it escape, one allocation per event).
	haveLast bool
	saves    int // checkpoints saved
}

// consumePartition loads the partition's state and consumes until ctx ends
// or an error it cannot get past; progressed reports whether it saved a
// checkpoint on the way.
func (c *Consumer) consumePartition(ctx context.Context, partition int, mux *fetchMux) (progressed bool, err error) {
	st, err := c.store.Load(ctx, partition)
	if err != nil {
		return false, metrics.Failed(metrics.Redis, err)
	}
	w := &worker{c: c, partition: partition, et: eventtime.NewPartition(c.et), expected: -1, highWater: -1,
		lag: c.metrics.ConsumerLag.WithLabelValues(strconv.Itoa(partition))}
	w.et.Restore(st.MaxEventTime, st.ClosedThrough, st.Windows)
	w.savedMax = st.MaxEventTime
	if st.Saved {
		w.expected, w.offset = st.Offset, st.Offset
	}

	src, err := c.openSource(ctx, partition, mux)
	if err != nil {
		return false, err
	}
	defer src.close()

	first, last, err := src.offsets(ctx)
	if err != nil {
		return false, metrics.Failed(metrics.Kafka, err)
	}
	switch {
	case !st.Saved && (c.cfg.StartOffset == StartEarliest || st.AddedLater):
		// A partition added to the topic while the pipeline ran holds
		// events that are not late: all of them count.
		w.offset = first
	case !st.Saved:
		w.offset = last
	case w.offset < first:
		c.log.Error("saved offset is below the log start (records were deleted by retention before being counted); skipping ahead",
			"partition", partition, "saved", w.offset, "first", first, "lost", first-w.offset)
		w.offset = first
	case w.offset > last:
		return false, w.beyondEnd(last)
	case st.LastRecord != "" && w.offset > first:
		if err := w.checkHistory(ctx, src, st.LastRecord); err != nil {
			return false, err
		}
	}
	c.markBeyondEnd(partition, 0, -1)
	if err := src.seek(w.offset); err != nil {
		return false, metrics.Failed(metrics.Kafka, err)
	}
	w.dirty = !st.Saved // save the start position at once so a restart resumes here
	w.lastAct = c.opts.Now()
	// lastSave stays zero: the first batch is saved at once, so the start
	// position and the first counts are in Redis without waiting an interval.
	c.log.Debug("partition resumed", "partition", partition, "offset", w.offset, "saved", st.Saved,
		"max_event_time", st.MaxEventTime, "open_windows", len(st.Windows))

	// A fetch that fails on the connection (kafka-go then closes it, or
	// finds the responses out of step: "multiple Read calls return no data
	// or error", which kafka-go v0.4.51 causes every few seconds on a busy
	// partition read at its end, by leaving part of a response unread)
	// loses nothing counted: every record is counted whole or not at all,
	// and w.offset is the next one to read. The worker dials again and goes
	// on from there, keeping its counts, without a round trip through
	// Redis; when the new connection fails before reading anything, it
	// saves and starts over (with a backoff).
	redialedAt := int64(-1) // w.offset at the last redial
	for {
		if ctx.Err() != nil {
			return w.saves > 0, w.finalSave()
		}
		if err := src.fetch(ctx, w); err != nil {
			if kerr := kafka.Error(0); errors.As(err, &kerr) {
				// The broker's answer (not leader any more, unknown
				// partition, ...): the leaders are looked up again.
				c.leaders.forget()
			}
			err = metrics.Failed(metrics.Kafka, err)
			if w.offset != redialedAt && !errors.Is(err, ErrOffsetBeyondEnd) {
				redialedAt = w.offset
				c.metrics.FetchRedials.Inc()
				c.log.Debug("fetch failed; dialing the partition's leader again", "partition", partition, "offset", w.offset, "error", err)
				if err = src.recover(ctx, w); err == nil {
					continue
				}
			}
			return w.giveUp(err)
		}
		if err := w.maybeSave(ctx); err != nil {
			return w.saves > 0, err
		}
	}
}

// giveUp ends a worker whose fetches failed past a redial: it keeps what
// was counted (a save), and reports as progress only the saves made before
// the failure. The failure's own save is no sign of health; counted as
// one, it would reset the backoff every time, and a partition whose
// fetches keep failing would be retried every 200 ms for ever.
func (w *worker) giveUp(err error) (progressed bool, _ error) {
	progressed = w.saves > 0
	if serr := w.save(context.Background(), false); serr != nil {
		return progressed, errors.Join(err, serr)
	}
	return progressed, err
}

// fetchWait is how long the next fetch may wait for records: a caught-up
// partition waits at most until it would turn idle, so idleness (and the
// closing of the last windows) is not delayed by a long fetch.
func (w *worker) fetchWait() time.Duration {
	c := w.c
	wait := c.cfg.FetchMaxWait
	if w.caughtUp() {
		until := c.et.Watermark.IdleTimeout - c.opts.Now().Sub(w.lastAct)
		if until > 0 {
			wait = min(wait, max(until, 10*time.Millisecond))
		}
	}
	return wait
}

// take counts one record of a fetch; it reports whether the worker must
// stop reading there and save: the side records held reached their bound
// in bytes, however many bad or late records the batch has.
func (w *worker) take(msg kafka.Message) (stop bool) {
	w.offset = msg.Offset + 1
	w.lastMsg, w.haveLast = msg, true
	w.dirty = true
	w.handle(msg)
	return w.sideFull()
}

// fetched records the end of a fetch that counted n records and saw the
// high-water mark hw (-1: none, the fetch failed before its answer).
func (w *worker) fetched(n int, hw int64) {
	if n > 0 {
		w.lastAct = w.c.opts.Now()
		w.flushMetrics()
	}
	if hw >= 0 {
		w.highWater = hw
		w.lag.Set(float64(max(0, hw-w.offset)))
	}
}

// sideFull reports whether the side records held reached the consumer's
// SidePendingMaxBytes: they are written (and the partition saved) before
// anything more is read.
func (w *worker) sideFull() bool { return w.pendingBytes >= int64(w.c.cfg.SidePendingMaxBytes) }

// fetchGuard is how long past its wait a fetch may go unanswered before
// the connection counts as broken.
const fetchGuard = 10 * time.Second

// fetchFailed classifies a fetch's error: nil for the end of a batch; for
// an offset out of range, below the log start it skips ahead, beyond the
// log end it stops the partition (beyondEnd).
func (w *worker) fetchFailed(ctx context.Context, err error, src source) error {
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, kafka.RequestTimedOut):
		return nil // the end of the batch; kafka-go's word for an empty one
	case errors.Is(err, kafka.OffsetOutOfRange):
		first, last, oerr := src.offsets(ctx)
		if oerr != nil {
			return oerr
		}
		if w.offset < first {
			w.c.log.Error("offset below the log start (deleted by retention before being counted); skipping ahead",
				"partition", w.partition, "offset", w.offset, "first", first)
			w.offset = first
			return src.seek(first)
		}
		if w.offset > last {
			return w.beyondEnd(last)
		}
		return fmt.Errorf("offset %d out of range: %w", w.offset, err)
	default:
		return fmt.Errorf("fetch %s/%d at %d: %w", w.c.topics.InputTopic, w.partition, w.offset, err)
	}
}

// beyondEnd stops the partition: its saved offset lies beyond the log end.
// The error is logged by the worker's retry loop, which checks again after
// its backoff, so a partition that a reset cleared resumes by itself.
func (w *worker) beyondEnd(end int64) error {
	w.c.markBeyondEnd(w.partition, w.offset, end)
	return fmt.Errorf("%s/%d: %w (saved %d, log end %d): the topic was recreated or lost records; stop every instance and run `stats-processor reset`",
		w.c.topics.InputTopic, w.partition, ErrOffsetBeyondEnd, w.offset, end)
}

// checkHistory reads the record just before the saved offset and compares
// it with the one saved: a topic deleted, created again and grown past the
// saved offset holds another history, which the saved counts do not
// belong to. The partition then stops as for an offset beyond the log end.
func (w *worker) checkHistory(ctx context.Context, src source, saved string) error {
	before := w.offset - 1
	msg, err := src.recordAt(ctx, before)
	if err != nil {
		return metrics.Failed(metrics.Kafka, fmt.Errorf("read %s/%d at %d to check the saved history: %w", w.c.topics.InputTopic, w.partition, before, err))
	}
	if got := RecordFingerprint(msg); got != saved {
		w.c.markBeyondEnd(w.partition, w.offset, -2)
		return fmt.Errorf("%s/%d: %w: the record at offset %d is %s, the saved state read %s there: the topic was recreated; stop every instance and run `stats-processor reset`",
			w.c.topics.InputTopic, w.partition, ErrOffsetBeyondEnd, before, got, saved)
	}
	return nil
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// RecordFingerprint identifies a record for checkHistory: its timestamp
// and a checksum of its key and value.
func RecordFingerprint(m kafka.Message) string {
	h := crc32.New(castagnoli)
	h.Write(m.Key)
	h.Write([]byte{0})
	h.Write(m.Value)
	return strconv.FormatInt(m.Time.UnixMilli(), 10) + ":" + strconv.FormatUint(uint64(h.Sum32()), 16)
}

// handle is the per-event path: decode, classify, count.
func (w *worker) handle(msg kafka.Message) {
	ev, err := serde.DecodeVehicleEvent(msg.Value)
	if err != nil {
		w.deadLetter(msg, err)
		return
	}
	// A far-future event is a bad record, not an event: given to Add it would
	// push the partition's watermark so far ahead that every later event of
	// the partition is late, and the pipeline would close windows up to it.
	if maxFuture := w.c.et.Watermark.MaxFuture; maxFuture > 0 {
		// A record without a timestamp is measured from the wall clock
		// (read only then: it costs on the per-event path).
		recordTime, readTime := eventtime.NoRecordTime, int64(0)
		if msg.Time.IsZero() {
			readTime = w.c.opts.Now().UnixMilli()
		} else {
			recordTime = msg.Time.UnixMilli()
		}
		if err := eventtime.CheckFuture(ev.EventTime, recordTime, readTime, maxFuture); err != nil {
			w.deadLetter(msg, err)
			return
		}
	}
	if err := eventtime.CheckRepresentable(ev.EventTime, w.c.et.Window.Size); err != nil {
		w.deadLetter(msg, err) // reachable with watermark.max_future=0 only
		return
	}
	if w.et.Add(ev.EventTime, ev.Type).Late() {
		w.late++
		if w.c.topics.LateTopic != "" {
			w.queue(kafka.Message{Topic: w.c.topics.LateTopic, Key: msg.Key, Value: msg.Value})
		}
		return
	}
	w.counted[ev.Type.Index()]++
}

// deadLetter queues a record that is not an event for the dead-letter
// topic, unchanged, with the reason and where it came from.
func (w *worker) deadLetter(msg kafka.Message, reason error) {
	w.dead[deadLetterReason(reason)]++
	w.queue(kafka.Message{
		Topic: w.c.topics.DeadLetterTopic,
		Key:   msg.Key,
		Value: msg.Value,
		Headers: []kafka.Header{
			{Key: "error", Value: []byte(reason.Error())},
			{Key: "source-topic", Value: []byte(w.c.topics.InputTopic)},
			{Key: "source-partition", Value: strconv.AppendInt(nil, int64(w.partition), 10)},
			{Key: "source-offset", Value: strconv.AppendInt(nil, msg.Offset, 10)},
		},
	})
}

// queue holds a side record until the next save writes it.
func (w *worker) queue(m kafka.Message) {
	w.pending = append(w.pending, m)
	w.pendingBytes += topics.MessageSize(m)
}

func (w *worker) flushMetrics() {
	m := w.c.metrics
	for i, n := range w.counted {
		if n > 0 {
			m.AddEvents(i, n)
			w.counted[i] = 0
		}
	}
	if w.late > 0 {
		m.Late.Add(float64(w.late))
		w.late = 0
	}
	for r, n := range w.dead {
		if n > 0 {
			m.AddDeadLetters(metrics.DeadLetterReason(r), n)
			w.dead[r] = 0
		}
	}
}

// maybeSave saves when the interval has passed and there is news (or an
// idle lease to renew), or when the side records held reached their bound
// in bytes.
func (w *worker) maybeSave(ctx context.Context) error {
	now := w.c.opts.Now()
	idle := w.idle(now)
	due := now.Sub(w.lastSave) >= w.c.opts.Checkpoint.Interval
	news := w.dirty || w.et.HasDirty() || idle
	// Becoming idle is saved at once: the pipeline watermark, and so the
	// closing of the last windows, waits for it. So is a watermark that
	// passed a window's end while the partition is caught up (live): the
	// window can close as soon as every partition did so. While catching
	// up, windows end every few thousand events; the interval then bounds
	// the saves.
	if (due && news) || idle != w.idleSaved || (w.caughtUp() && w.crossedWindow()) || w.sideFull() {
		return w.save(ctx, idle)
	}
	return nil
}

// caughtUp reports whether the partition has read everything up to the
// last fetch's high-water mark: it is live.
func (w *worker) caughtUp() bool { return w.highWater >= 0 && w.offset >= w.highWater }

// crossedWindow reports whether the partition's watermark passed the end of
// a window since the last save.
func (w *worker) crossedWindow() bool {
	size, ooo := w.c.et.Window.Size, w.c.et.Watermark.MaxOutOfOrderness
	now := eventtime.ClosedThrough(eventtime.WatermarkOf(w.et.MaxEventTime(), ooo), size)
	saved := eventtime.ClosedThrough(eventtime.WatermarkOf(w.savedMax, ooo), size)
	return now != saved
}

func (w *worker) idle(now time.Time) bool {
	// Elapsed time on the monotonic clock, measured from the last activity.
	return eventtime.IsIdle(w.caughtUp(), 0, now.Sub(w.lastAct).Milliseconds(), w.c.et.Watermark.IdleTimeout)
}

func (w *worker) finalSave() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := w.save(ctx, false) // not idle: without an owner the partition holds the watermark
	if err != nil {
		w.c.log.Warn("final checkpoint failed; the next owner replays from the previous one", "partition", w.partition, "error", err)
	}
	return err
}

// save writes pending side records, then the checkpoint. Side records go
// first so that a crash in between replays them (at least once) rather than
// losing them.
func (w *worker) save(ctx context.Context, idle bool) error {
	c := w.c
	if len(w.pending) > 0 {
		if err := c.opts.Side.WriteMessages(ctx, w.pending...); err != nil {
			return metrics.Failed(metrics.Kafka, fmt.Errorf("%w: %d records (%d bytes): %w", ErrSideWrite, len(w.pending), w.pendingBytes, err))
		}
		clear(w.pending)
		w.pending = w.pending[:0]
		w.pendingBytes = 0
		c.sideWritten(w.partition)
	}
	now := c.opts.Now()
	cp := state.Checkpoint{
		Partition:      w.partition,
		ExpectedOffset: w.expected,
		Offset:         w.offset,
		MaxEventTime:   w.et.MaxEventTime(),
		Owner:          c.opts.InstanceID,
		Windows:        map[int64]eventtime.Counts{},
	}
	if w.haveLast {
		cp.LastRecord = RecordFingerprint(w.lastMsg)
	}
	if idle {
		cp.IdleFor = c.idleLease()
	}
	w.et.Dirty(func(start int64, c eventtime.Counts) { cp.Windows[start] = c })
	t0 := time.Now()
	closed, err := c.store.Save(ctx, cp)
	c.metrics.Checkpoint.Observe(time.Since(t0).Seconds())
	if err != nil {
		if errors.Is(err, state.ErrFenced) {
			return err
		}
		return metrics.Failed(metrics.Redis, err)
	}
	w.et.MarkSaved()
	w.et.Seal(closed)
	w.expected = w.offset
	w.dirty = false
	w.saves++
	// Wake the closers when this save may close windows now: an idle
	// change, or a live partition crossing a window's end. A partition
	// catching up crosses window ends at every save; there the closers'
	// tick is soon enough, and a wake per save would have them read every
	// partition's status hundreds of times a second (seen at 240
	// partitions).
	if idle != w.idleSaved || (w.caughtUp() && w.crossedWindow()) {
		c.opts.OnProgress(w.partition)
	}
	w.savedMax = w.et.MaxEventTime()
	w.idleSaved = idle
	c.metrics.SetPartition(w.partition, eventtime.WatermarkOf(w.savedMax, c.et.Watermark.MaxOutOfOrderness), idle)
	w.lastSave = now
	c.savedOffset(w.partition, w.offset)
	return nil
}

// backoff doubles a wait up to a limit, with jitter.
type backoff struct{ cur, min, max time.Duration }

func newBackoff(lo, hi time.Duration) *backoff { return &backoff{min: lo, max: hi} }

// reset makes the next wait the shortest again.
func (b *backoff) reset() { b.cur = 0 }

func (b *backoff) next() time.Duration {
	if b.cur == 0 {
		b.cur = b.min
	} else {
		b.cur = min(2*b.cur, b.max)
	}
	return b.cur/2 + rand.N(b.cur/2+1)
}
