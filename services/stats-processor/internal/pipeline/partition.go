package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"github.com/vehicle-stats/vehicle-stats/pkg/model"
	"github.com/vehicle-stats/vehicle-stats/pkg/serde"
	"github.com/vehicle-stats/vehicle-stats/services/stats-processor/internal/eventtime"
	"github.com/vehicle-stats/vehicle-stats/services/stats-processor/internal/state"
)

// runPartition owns one input partition for one consumer-group generation:
// it consumes, counts and checkpoints until ctx ends, and after any error
// starts over from the state saved in Redis.
func (p *Processor) runPartition(ctx context.Context, partition int) {
	log := p.log.With("partition", partition)
	backoff := newBackoff(200*time.Millisecond, 10*time.Second)
	for {
		err := p.consumePartition(ctx, partition)
		if ctx.Err() != nil {
			return
		}
		if errors.Is(err, state.ErrFenced) {
			p.metrics.Fenced.Inc()
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
	p         *Processor
	partition int
	et        *eventtime.Partition
	expected  int64 // offset saved in Redis (-1: none)
	offset    int64 // next offset to read
	highWater int64
	lag       prometheus.Gauge // consumer lag of this partition
	lastAct   int64            // wall ms of the last record, or of the start
	lastSave  time.Time
	idleSaved bool
	pending   []kafka.Message // dead letters and late events to write before the next save
	counted   [model.NumVehicleTypes]int64
	late      int64
	dead      int64
	dirty     bool // offset moved since the last save
}

func (p *Processor) consumePartition(ctx context.Context, partition int) error {
	st, err := p.store.Load(ctx, partition)
	if err != nil {
		p.metrics.redisErrors.Inc()
		return err
	}
	w := &worker{p: p, partition: partition, et: eventtime.NewPartition(p.cfg.EventTime), expected: -1, highWater: -1,
		lag: p.metrics.ConsumerLag.WithLabelValues(strconv.Itoa(partition))}
	w.et.Restore(st.MaxEventTime, st.ClosedThrough, st.Windows)
	if st.Saved {
		w.expected, w.offset = st.Offset, st.Offset
	}

	conn, err := p.dialAnyLeader(ctx, partition)
	if err != nil {
		p.metrics.kafkaErrors.Inc()
		return fmt.Errorf("connect to the leader of %s/%d: %w", p.cfg.InputTopic, partition, err)
	}
	defer conn.Close()

	first, last, err := readOffsets(conn)
	if err != nil {
		p.metrics.kafkaErrors.Inc()
		return err
	}
	switch {
	case !st.Saved && p.cfg.StartOffset == StartEarliest:
		w.offset = first
	case !st.Saved:
		w.offset = last
	case w.offset < first:
		p.log.Error("saved offset is below the log start (records were deleted by retention before being counted); skipping ahead",
			"partition", partition, "saved", w.offset, "first", first, "lost", first-w.offset)
		w.offset = first
	}
	if _, err := conn.Seek(w.offset, kafka.SeekAbsolute); err != nil {
		return fmt.Errorf("seek %s/%d to %d: %w", p.cfg.InputTopic, partition, w.offset, err)
	}
	w.dirty = !st.Saved // save the start position at once so a restart resumes here
	w.lastAct = p.now().UnixMilli()
	// lastSave stays zero: the first batch is saved at once, so the start
	// position and the first counts are in Redis without waiting an interval.
	p.log.Debug("partition resumed", "partition", partition, "offset", w.offset, "saved", st.Saved,
		"max_event_time", st.MaxEventTime, "open_windows", len(st.Windows))

	for {
		if ctx.Err() != nil {
			return w.finalSave()
		}
		if err := w.fetch(conn); err != nil {
			p.metrics.kafkaErrors.Inc()
			// Keep what was counted: save it, then reconnect.
			if serr := w.save(context.Background(), false); serr != nil {
				return errors.Join(err, serr)
			}
			return err
		}
		if err := w.maybeSave(ctx); err != nil {
			return err
		}
	}
}

func (p *Processor) dialAnyLeader(ctx context.Context, partition int) (*kafka.Conn, error) {
	var err error
	for _, b := range p.cfg.Brokers {
		var c *kafka.Conn
		if c, err = p.dialer.DialLeader(ctx, "tcp", b, p.cfg.InputTopic, partition); err == nil {
			return c, nil
		}
	}
	return nil, err
}

func readOffsets(conn *kafka.Conn) (first, last int64, err error) {
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	defer conn.SetDeadline(time.Time{})
	first, last, err = conn.ReadOffsets()
	if err != nil {
		return 0, 0, fmt.Errorf("read offsets: %w", err)
	}
	return first, last, nil
}

// fetch reads one batch and counts it. An empty batch after the broker's
// wait is normal.
func (w *worker) fetch(conn *kafka.Conn) error {
	p := w.p
	// A caught-up partition waits for new data at most until it would turn
	// idle, so idleness (and the closing of the last windows) is not delayed
	// by a long fetch.
	wait := p.cfg.FetchMaxWait
	if w.highWater >= 0 && w.offset >= w.highWater {
		until := time.Duration(w.lastAct+p.cfg.EventTime.IdleTimeout.Milliseconds()-p.now().UnixMilli()) * time.Millisecond
		if until > 0 {
			wait = min(wait, max(until, 10*time.Millisecond))
		}
	}
	_ = conn.SetReadDeadline(time.Now().Add(wait))
	batch := conn.ReadBatchWith(kafka.ReadBatchConfig{MinBytes: 1, MaxBytes: p.cfg.FetchMaxBytes})
	defer conn.SetReadDeadline(time.Time{})
	hw := batch.HighWaterMark()
	// One deadline for the whole batch: setting it per message costs a clock
	// read and a poller lock each time (seen in the catch-up profile).
	_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	n := 0
	for {
		msg, err := batch.ReadMessage()
		if err != nil {
			batch.Close()
			if n > 0 {
				w.lastAct = p.now().UnixMilli()
				w.flushMetrics()
			}
			if hw >= 0 {
				w.highWater = hw
				w.lag.Set(float64(max(0, hw-w.offset)))
			}
			return classifyFetchErr(err, conn, w)
		}
		if msg.Offset < w.offset {
			continue // a compressed batch can start before the offset asked for
		}
		n++
		w.offset = msg.Offset + 1
		w.dirty = true
		w.handle(msg)
	}
}

func classifyFetchErr(err error, conn *kafka.Conn, w *worker) error {
	var netErr net.Error
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, kafka.RequestTimedOut):
		return nil
	case errors.As(err, &netErr) && netErr.Timeout():
		return nil // no data within the wait
	case errors.Is(err, kafka.OffsetOutOfRange):
		first, _, oerr := readOffsets(conn)
		if oerr != nil {
			return oerr
		}
		if w.offset < first {
			w.p.log.Error("offset below the log start (deleted by retention before being counted); skipping ahead",
				"partition", w.partition, "offset", w.offset, "first", first)
			w.offset = first
			_, serr := conn.Seek(first, kafka.SeekAbsolute)
			return serr
		}
		return fmt.Errorf("offset %d out of range: %w", w.offset, err)
	default:
		return fmt.Errorf("fetch %s/%d at %d: %w", w.p.cfg.InputTopic, w.partition, w.offset, err)
	}
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
	if maxFuture := w.p.cfg.EventTime.MaxFuture; maxFuture > 0 {
		recordTime := eventtime.NoRecordTime
		if !msg.Time.IsZero() {
			recordTime = msg.Time.UnixMilli()
		}
		if err := eventtime.CheckFuture(ev.EventTime, recordTime, maxFuture); err != nil {
			w.deadLetter(msg, err)
			return
		}
	}
	if w.et.Add(ev.EventTime, ev.Type).Late() {
		w.late++
		if w.p.cfg.LateTopic != "" {
			w.pending = append(w.pending, kafka.Message{Topic: w.p.cfg.LateTopic, Key: msg.Key, Value: msg.Value})
		}
		return
	}
	w.counted[ev.Type.Index()]++
}

// deadLetter queues a record that is not an event for the dead-letter
// topic, unchanged, with the reason and where it came from.
func (w *worker) deadLetter(msg kafka.Message, reason error) {
	w.dead++
	w.pending = append(w.pending, kafka.Message{
		Topic: w.p.cfg.DeadLetterTopic,
		Key:   msg.Key,
		Value: msg.Value,
		Headers: []kafka.Header{
			{Key: "error", Value: []byte(reason.Error())},
			{Key: "source-topic", Value: []byte(w.p.cfg.InputTopic)},
			{Key: "source-partition", Value: strconv.AppendInt(nil, int64(w.partition), 10)},
			{Key: "source-offset", Value: strconv.AppendInt(nil, msg.Offset, 10)},
		},
	})
}

func (w *worker) flushMetrics() {
	m := w.p.metrics
	for i, n := range w.counted {
		if n > 0 {
			m.eventsByType[i].Add(float64(n))
			w.counted[i] = 0
		}
	}
	if w.late > 0 {
		m.Late.Add(float64(w.late))
		w.late = 0
	}
	if w.dead > 0 {
		m.DeadLetters.Add(float64(w.dead))
		w.dead = 0
	}
}

// maybeSave saves when the interval has passed and there is news (or an
// idle lease to renew), or when many side records are pending.
func (w *worker) maybeSave(ctx context.Context) error {
	now := w.p.now()
	idle := w.idle(now)
	due := now.Sub(w.lastSave) >= w.p.cfg.CheckpointInterval
	news := w.dirty || w.et.HasDirty() || idle
	// Becoming idle is saved at once: the pipeline watermark, and so the
	// closing of the last windows, waits for it.
	if (due && news) || idle != w.idleSaved || len(w.pending) >= 10_000 {
		return w.save(ctx, idle)
	}
	return nil
}

func (w *worker) idle(now time.Time) bool {
	return eventtime.IsIdle(w.highWater >= 0 && w.offset >= w.highWater, w.lastAct, now.UnixMilli(), w.p.cfg.EventTime.IdleTimeout)
}

func (w *worker) finalSave() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := w.save(ctx, false) // not idle: without an owner the partition holds the watermark
	if err != nil {
		w.p.log.Warn("final checkpoint failed; the next owner replays from the previous one", "partition", w.partition, "error", err)
	}
	return err
}

// save writes pending side records, then the checkpoint. Side records go
// first so that a crash in between replays them (at least once) rather than
// losing them.
func (w *worker) save(ctx context.Context, idle bool) error {
	p := w.p
	if len(w.pending) > 0 {
		if err := p.side.WriteMessages(ctx, w.pending...); err != nil {
			p.metrics.kafkaErrors.Inc()
			return fmt.Errorf("write %d dead-letter/late records: %w", len(w.pending), err)
		}
		clear(w.pending)
		w.pending = w.pending[:0]
	}
	now := p.now()
	cp := state.Checkpoint{
		Partition:      w.partition,
		ExpectedOffset: w.expected,
		Offset:         w.offset,
		MaxEventTime:   w.et.MaxEventTime(),
		Owner:          p.cfg.InstanceID,
		Windows:        map[int64]eventtime.Counts{},
	}
	if idle {
		cp.IdleUntil = now.Add(p.cfg.idleLease()).UnixMilli()
	}
	w.et.Dirty(func(start int64, c eventtime.Counts) { cp.Windows[start] = c })
	t0 := time.Now()
	closed, err := p.store.Save(ctx, cp)
	p.metrics.Checkpoint.Observe(time.Since(t0).Seconds())
	if err != nil {
		if !errors.Is(err, state.ErrFenced) {
			p.metrics.redisErrors.Inc()
		}
		return err
	}
	w.et.MarkSaved()
	w.et.Seal(closed)
	w.expected = w.offset
	w.dirty = false
	if idle != w.idleSaved {
		p.nudgeCloser()
	}
	w.idleSaved = idle
	w.lastSave = now
	p.savedOffset(w.partition, w.offset)
	return nil
}

// backoff doubles a wait up to a limit, with jitter.
type backoff struct{ cur, min, max time.Duration }

func newBackoff(lo, hi time.Duration) *backoff { return &backoff{min: lo, max: hi} }

func (b *backoff) next() time.Duration {
	if b.cur == 0 {
		b.cur = b.min
	} else {
		b.cur = min(2*b.cur, b.max)
	}
	return b.cur/2 + rand.N(b.cur/2+1)
}
