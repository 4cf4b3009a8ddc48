package sink

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/vehicle-stats/vehicle-stats/pkg/model"
	"github.com/vehicle-stats/vehicle-stats/services/vehicle-producer/internal/metrics"
)

// Record is one encoded event to send.
type Record struct {
	// Key is the plate number.
	Key []byte
	// Value is the Vehicle's JSON.
	Value []byte
	// Type is the vehicle type, for the per-type counters.
	Type model.VehicleType
}

// Options are the optional collaborators of a Kafka sink.
type Options struct {
	// OnFatal is called (once, from a sink goroutine) with a permanent send
	// error. The records concerned stay unacknowledged. Nil logs only.
	OnFatal func(error)
	// Now is the wall clock for record timestamps; time.Now when nil.
	Now func() time.Time
}

// Kafka sends records to one topic. Acquire and Send are for one goroutine
// (the producer's loop); everything else is safe for concurrent use.
type Kafka struct {
	cfg       Config
	log       *slog.Logger
	metrics   *metrics.Metrics
	opts      Options
	transport *kafka.Transport
	dialer    *kafka.Dialer
	w         *kafka.Writer
	win       *window
	epoch     time.Time // for latency: monotonic offsets from here
	msgs      []kafka.Message
	chunks    sync.Pool // of *chunk

	stop   context.CancelFunc // ends the retry loop's context
	closed chan struct{}      // closed by Close
	once   sync.Once

	retryMu   sync.Mutex
	retryQ    []kafka.Message
	retryWake chan struct{}
	retryDone chan struct{}

	sent      atomic.Uint64
	sentBytes atomic.Uint64
	byType    [model.NumVehicleTypes]atomic.Uint64
	failures  atomic.Uint64
	failing   atomic.Bool
	fatalOnce sync.Once
	dead      chan struct{} // closed on a permanent error

	healthMu         sync.Mutex
	lastErr          error
	lastErrAt        time.Time
	failingSince     time.Time
	unreachableErr   error     // the last failed look at the topic
	unreachableSince time.Time // zero while the brokers answer for the topic
}

// pending is what the completion callback needs to know about a record; a
// pointer to it travels in kafka.Message.WriterData.
type pending struct {
	at    time.Duration // since Kafka.epoch, when the record was handed over
	typ   model.VehicleType
	chunk *chunk
}

// chunk is the records of one Send call. When the last is acknowledged, done
// runs (the caller may then reuse the records' memory) and the chunk goes
// back to the pool: nothing refers to its pending records any more.
type chunk struct {
	left    atomic.Int64
	done    func()
	pending []pending
}

// New returns a sink for cfg. It does not talk to Kafka yet: EnsureTopic
// does, and Send starts the writer's connections.
func New(cfg Config, log *slog.Logger, m *metrics.Metrics, opts Options) (*Kafka, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("kafka sink: %w", err)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Kafka{
		cfg:       cfg,
		log:       log.With("component", "kafka", "topic", cfg.Topic),
		metrics:   m,
		opts:      opts,
		win:       newWindow(cfg.MaxInFlight),
		epoch:     time.Now(),
		retryWake: make(chan struct{}, 1),
		retryDone: make(chan struct{}),
		dead:      make(chan struct{}),
	}
	s.closed = make(chan struct{})
	transport, err := cfg.Security().Transport("vehicle-producer", 5*time.Second)
	if err != nil {
		return nil, fmt.Errorf("kafka sink: %w", err)
	}
	transport.MetadataTopics = []string{cfg.Topic}
	s.transport = transport
	if s.dialer, err = cfg.Security().Dialer("vehicle-producer", 3*time.Second); err != nil {
		return nil, fmt.Errorf("kafka sink: %w", err)
	}
	debug := kafka.LoggerFunc(func(msg string, args ...any) {
		s.log.Debug(fmt.Sprintf(msg, args...))
	})
	s.w = &kafka.Writer{
		Addr:      kafka.TCP(cfg.Brokers...),
		Topic:     cfg.Topic,
		Transport: s.transport,
		// murmur2, as the Java client: a plate keeps its partition.
		Balancer:     kafka.Murmur2Balancer{Consistent: true},
		RequiredAcks: kafka.RequireAll,
		Compression:  codecs[cfg.Compression],
		BatchSize:    cfg.BatchSize,
		BatchBytes:   cfg.BatchBytes,
		BatchTimeout: cfg.BatchTimeout,
		WriteTimeout: cfg.WriteTimeout,
		ReadTimeout:  cfg.WriteTimeout,
		// A few quick attempts inside the writer keep a partition's order
		// through a leader change; longer outages are the retry loop's.
		MaxAttempts:     3,
		WriteBackoffMin: cfg.RetryBackoffMin,
		WriteBackoffMax: cfg.RetryBackoffMax,
		Async:           true,
		Completion:      s.complete,
		ErrorLogger:     debug,
	}
	// The retry loop lives as long as the sink: its context is its own,
	// ended by Close.
	ctx, stop := context.WithCancel(context.Background())
	s.stop = stop
	go s.retryLoop(ctx)
	return s, nil
}

// Config returns the sink's configuration.
func (s *Kafka) Config() Config { return s.cfg }

// Acquire reserves room for n records in the in-flight window, waiting while
// it is full. Call it before making the records, so that their timestamps
// are not stale when they are sent.
func (s *Kafka) Acquire(ctx context.Context, n int) error {
	if s.isClosed() {
		return ErrClosed
	}
	if err := s.win.acquire(ctx, n); err != nil {
		return err
	}
	s.metrics.SetInFlight(s.win.inUse())
	return nil
}

// Send hands records, for which Acquire reserved room, to the writer and
// returns without waiting for Kafka: the records are in flight until Kafka
// acknowledges them (see Stats and Flush). When the writer cannot take them
// now (no metadata while the broker is away, or ctx ended), they join the
// retry queue, so Send never blocks on an absent broker; the in-flight
// window is what slows the caller down. Send fails only after Close
// (ErrClosed) or on a permanent error, which is also reported to
// Options.OnFatal.
//
// The keys and values must not change until done is called, which happens
// once, from a writer goroutine, when Kafka has acknowledged every record of
// this call; done may be nil. If some record is never acknowledged, done is
// never called and the memory is left to the garbage collector.
func (s *Kafka) Send(ctx context.Context, recs []Record, done func()) error {
	if s.isClosed() {
		return ErrClosed
	}
	if len(recs) == 0 {
		if done != nil {
			done()
		}
		return nil
	}
	at := time.Since(s.epoch)
	wall := s.opts.Now()
	c, _ := s.chunks.Get().(*chunk)
	if c == nil {
		c = new(chunk)
	}
	if cap(c.pending) < len(recs) {
		c.pending = make([]pending, len(recs))
	}
	c.pending = c.pending[:len(recs)]
	c.done = done
	c.left.Store(int64(len(recs)))
	msgs := s.msgs[:0]
	for i := range recs {
		c.pending[i] = pending{at: at, typ: recs[i].Type, chunk: c}
		msgs = append(msgs, kafka.Message{Key: recs[i].Key, Value: recs[i].Value, Time: wall, WriterData: &c.pending[i]})
	}
	s.msgs = msgs
	defer clear(msgs) // drop references to the records' bytes
	// WriteMessages either takes every message or none (its errors all come
	// before it batches anything), so on error the whole chunk is retried.
	if err := s.w.WriteMessages(ctx, msgs...); err != nil {
		if ctx.Err() != nil {
			// The caller is stopping, Kafka is not at fault; the retry
			// loop hands the records over.
			s.requeue(msgs)
			return nil
		}
		s.noteFailure(err, len(msgs))
		if !Retryable(err) {
			s.fatal(err)
			return fmt.Errorf("hand %d records to the kafka writer: %w", len(msgs), err)
		}
		s.requeue(msgs)
	}
	return nil
}

// write hands msgs to the async writer for the retry loop, retrying with
// backoff until it takes them or ctx ends. The writer copies the messages,
// so msgs may be reused afterwards.
func (s *Kafka) write(ctx context.Context, msgs []kafka.Message) error {
	for attempt := 0; ; attempt++ {
		err := s.w.WriteMessages(ctx, msgs...)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("hand %d records to the kafka writer: %w", len(msgs), ctx.Err())
		}
		s.noteFailure(err, 0)
		if !Retryable(err) {
			s.fatal(err)
			return fmt.Errorf("hand %d records to the kafka writer: %w", len(msgs), err)
		}
		select {
		case <-time.After(s.backoff(attempt)):
		case <-ctx.Done():
			return fmt.Errorf("hand %d records to the kafka writer: %w", len(msgs), ctx.Err())
		}
	}
}

// complete is the writer's callback for one produce request.
func (s *Kafka) complete(msgs []kafka.Message, err error) {
	if err != nil {
		s.noteFailure(err, len(msgs))
		if !Retryable(err) {
			s.fatal(err)
			return
		}
		s.requeue(msgs)
		return
	}
	var byType [model.NumVehicleTypes]int
	oldest := time.Duration(1<<63 - 1)
	bytes := 0
	for i := range msgs {
		bytes += len(msgs[i].Key) + len(msgs[i].Value)
		p := msgs[i].WriterData.(*pending)
		byType[p.typ.Index()]++
		oldest = min(oldest, p.at)
		// p must not be touched after this: the last record of a chunk
		// recycles it.
		if c := p.chunk; c.left.Add(-1) == 0 {
			if c.done != nil {
				c.done()
			}
			c.done = nil
			s.chunks.Put(c)
		}
	}
	for i, n := range byType {
		if n > 0 {
			s.byType[i].Add(uint64(n))
		}
	}
	s.sent.Add(uint64(len(msgs)))
	s.sentBytes.Add(uint64(bytes))
	s.metrics.Acked(&byType, len(msgs), time.Since(s.epoch)-oldest)
	s.noteSuccess()
	s.win.release(len(msgs))
	s.metrics.SetInFlight(s.win.inUse())
}

// requeue keeps a failed request's records for the retry loop. The writer
// set their topic, which it refuses on a record when it has a topic itself.
func (s *Kafka) requeue(msgs []kafka.Message) {
	s.retryMu.Lock()
	for _, m := range msgs {
		m.Topic, m.Partition, m.Offset = "", 0, 0
		s.retryQ = append(s.retryQ, m)
	}
	s.retryMu.Unlock()
	select {
	case s.retryWake <- struct{}{}:
	default:
	}
}

// retryLoop sends failed records again, after a backoff that grows while
// failures continue, until ctx ends (Close).
func (s *Kafka) retryLoop(ctx context.Context) {
	defer close(s.retryDone)
	for attempt := 0; ; {
		select {
		case <-s.retryWake:
		case <-ctx.Done():
			return
		}
		if s.failing.Load() {
			attempt++
		} else {
			attempt = 0
		}
		select {
		case <-time.After(s.backoff(attempt)):
		case <-ctx.Done():
			return
		}
		s.retryMu.Lock()
		msgs := s.retryQ
		s.retryQ = nil
		s.retryMu.Unlock()
		if len(msgs) == 0 {
			continue
		}
		s.log.Debug("retrying records", "records", len(msgs), "attempt", attempt)
		if err := s.write(ctx, msgs); err != nil {
			// Closed, or a permanent error (already reported): the
			// records stay unacknowledged and counted in flight.
			return
		}
	}
}

// backoff doubles from RetryBackoffMin to RetryBackoffMax.
func (s *Kafka) backoff(attempt int) time.Duration {
	d := s.cfg.RetryBackoffMin
	for range min(attempt, 30) {
		d *= 2
		if d >= s.cfg.RetryBackoffMax {
			return s.cfg.RetryBackoffMax
		}
	}
	return d
}

func (s *Kafka) noteFailure(err error, records int) {
	s.failures.Add(1)
	s.metrics.Failed(records)
	now := time.Now()
	s.healthMu.Lock()
	s.lastErr, s.lastErrAt = err, now
	first := s.failingSince.IsZero()
	if first {
		s.failingSince = now
	}
	s.healthMu.Unlock()
	s.failing.Store(true)
	if first {
		s.log.Warn("sending to kafka fails; retrying until it works", "error", err, "records", records, "in_flight", s.win.inUse())
	} else {
		s.log.Debug("send attempt failed", "error", err, "records", records)
	}
}

// noteReach records whether the brokers answered for the topic (err nil) or
// not, for Stats.
func (s *Kafka) noteReach(err error) {
	s.healthMu.Lock()
	defer s.healthMu.Unlock()
	s.unreachableErr = err
	switch {
	case err == nil:
		s.unreachableSince = time.Time{}
	case s.unreachableSince.IsZero():
		s.unreachableSince = time.Now()
	}
}

func (s *Kafka) noteSuccess() {
	if !s.failing.Load() {
		return
	}
	s.healthMu.Lock()
	since := s.failingSince
	s.failingSince = time.Time{}
	s.failing.Store(false)
	s.healthMu.Unlock()
	if !since.IsZero() {
		s.log.Info("sending to kafka works again", "after", time.Since(since).Round(time.Millisecond).String(), "in_flight", s.win.inUse())
	}
}

func (s *Kafka) fatal(err error) {
	s.fatalOnce.Do(func() {
		close(s.dead)
		s.log.Error("permanent kafka error; stopping", "error", err, "in_flight", s.win.inUse())
		if s.opts.OnFatal != nil {
			go s.opts.OnFatal(fmt.Errorf("kafka topic %s: %w", s.cfg.Topic, err))
		}
	})
}

// Flush waits until every record handed over is acknowledged, or ctx ends,
// or a permanent error makes waiting pointless; it does not stop the sink.
// Records keep being retried meanwhile.
func (s *Kafka) Flush(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-s.dead:
			cancel()
		case <-ctx.Done():
		}
	}()
	if err := s.win.waitEmpty(ctx); err != nil {
		return fmt.Errorf("flush kafka writer: %w", err)
	}
	return nil
}

// Close stops retrying and closes the writer, waiting at most until ctx ends
// for the writer's requests to finish. Records not acknowledged by then are
// lost and counted in Stats.InFlight. Call Flush first.
func (s *Kafka) Close(ctx context.Context) error {
	s.once.Do(func() { close(s.closed) })
	s.stop()
	<-s.retryDone
	done := make(chan error, 1)
	go func() { done <- s.w.Close() }()
	var err error
	select {
	case err = <-done:
	case <-ctx.Done():
		err = fmt.Errorf("close kafka writer: %w", ctx.Err())
	}
	s.transport.CloseIdleConnections()
	if n := s.win.inUse(); n > 0 {
		err = errors.Join(err, fmt.Errorf("%d records were never acknowledged", n))
	}
	return err
}

func (s *Kafka) isClosed() bool {
	select {
	case <-s.closed:
		return true
	default:
		return false
	}
}

// Stats is a snapshot of the sink's counters.
type Stats struct {
	// Sent is the number of records Kafka acknowledged.
	Sent uint64
	// SentBytes is the keys and values of the Sent records, in bytes
	// (before compression, without Kafka's per-record overhead).
	SentBytes uint64
	// SentByType splits Sent by vehicle type, indexed by VehicleType.Index.
	SentByType [model.NumVehicleTypes]uint64
	// InFlight is the number of records handed over and not yet acknowledged
	// (retries included).
	InFlight int
	// Failures counts failed send attempts.
	Failures uint64
	// LastError is the most recent send error, nil if there was none.
	LastError error
	// LastErrorAt is when LastError happened.
	LastErrorAt time.Time
	// FailingSince is when sending started to fail, zero while it works.
	FailingSince time.Time
	// UnreachableSince is when the brokers stopped answering for the topic
	// (start-up waiting for them, or a readiness check failing), zero
	// while they answer; UnreachableError says why.
	UnreachableSince time.Time
	UnreachableError error
}

// Stats returns the current counters.
func (s *Kafka) Stats() Stats {
	st := Stats{Sent: s.sent.Load(), SentBytes: s.sentBytes.Load(), InFlight: s.win.inUse(), Failures: s.failures.Load()}
	for i := range st.SentByType {
		st.SentByType[i] = s.byType[i].Load()
	}
	s.healthMu.Lock()
	st.LastError, st.LastErrorAt, st.FailingSince = s.lastErr, s.lastErrAt, s.failingSince
	st.UnreachableSince, st.UnreachableError = s.unreachableSince, s.unreachableErr
	s.healthMu.Unlock()
	return st
}
