package producer

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vehicle-stats/vehicle-stats/services/vehicle-producer/internal/generator"
	"github.com/vehicle-stats/vehicle-stats/services/vehicle-producer/internal/metrics"
	"github.com/vehicle-stats/vehicle-stats/services/vehicle-producer/internal/pacer"
	"github.com/vehicle-stats/vehicle-stats/services/vehicle-producer/internal/sink"
)

// Sender is what the loop needs from the sink. Acquire and Send are called
// from the loop's goroutine only.
type Sender interface {
	// Acquire reserves room for n records, waiting while the window is full;
	// it returns ctx's error when ctx ends first.
	Acquire(ctx context.Context, n int) error
	// Send hands over records for which room was reserved, without
	// waiting for their acknowledgement; records it cannot hand over at
	// once stay in the sink's care. done, if not nil, is called once every
	// record was acknowledged; until then the records' bytes stay as they
	// are.
	Send(ctx context.Context, recs []sink.Record, done func()) error
	// Flush waits until every record handed over is acknowledged.
	Flush(ctx context.Context) error
}

// Config is what to produce and how fast.
type Config struct {
	// Rate is the target in events per second (fractions allowed); 0 sends
	// as fast as the sink takes them.
	Rate float64
	// Count is the number of events to send before stopping; 0 runs until
	// stopped.
	Count uint64
}

// Validate checks the rate.
func (c Config) Validate() error {
	if err := pacer.ValidateRate(c.Rate); err != nil {
		return fmt.Errorf("rate: %w", err)
	}
	return nil
}

// Options are the optional collaborators of a Producer.
type Options struct {
	// Now is the clock that stamps events; time.Now when nil.
	Now func() time.Time
	// OnDone is called once when the loop ends on its own: with nil after
	// Count events were sent and acknowledged, or with the error that ended
	// it. It is not called when Stop ended the loop.
	OnDone func(error)
}

// maxChunk is the most events made and handed over at once. Larger chunks
// amortise the writer's per-call work; at slow rates a chunk is one event.
const maxChunk = 1024

// Producer runs the loop. Create it with New, run it with Start and Stop.
type Producer struct {
	cfg   Config
	gen   *generator.Generator
	pace  *pacer.Pacer
	out   Sender
	m     *metrics.Metrics
	log   *slog.Logger
	opts  Options
	start time.Time
	end   time.Time // when Count events were acknowledged

	generated atomic.Uint64
	complete  atomic.Bool
	bufs      sync.Pool // of *[]byte, chunk buffers Kafka has acknowledged

	mu     sync.Mutex
	cancel context.CancelFunc
	done   chan struct{}
	err    error
}

// New returns a producer that makes events with gen and hands them to out.
func New(cfg Config, gen *generator.Generator, out Sender, m *metrics.Metrics, log *slog.Logger, opts Options) (*Producer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("producer: %w", err)
	}
	pace, err := pacer.New(cfg.Rate)
	if err != nil {
		return nil, fmt.Errorf("producer: %w", err)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	m.SetRate(cfg.Rate)
	return &Producer{cfg: cfg, gen: gen, pace: pace, out: out, m: m, log: log, opts: opts}, nil
}

// Start runs the loop in its own goroutine, on its own context.
func (p *Producer) Start() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.done != nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	p.done = make(chan struct{})
	p.start = p.opts.Now()
	p.log.Info("producing", "rate", p.cfg.Rate, "count", p.cfg.Count, "seed", p.gen.Seed())
	go func() {
		defer close(p.done)
		err := p.run(ctx)
		p.mu.Lock()
		p.err = err
		p.mu.Unlock()
		if ctx.Err() != nil && err == nil {
			return // stopped from outside
		}
		if p.opts.OnDone != nil {
			p.opts.OnDone(err)
		}
	}()
}

// Stop stops generating and waits for the loop to hand what it has made to
// the sink (the sink never blocks on Kafka for that, so this is quick). It
// does not flush the sink; the sink's own stop hook does, after this one.
func (p *Producer) Stop(ctx context.Context) error {
	p.mu.Lock()
	done, cancel := p.done, p.cancel
	p.mu.Unlock()
	if done == nil {
		return nil
	}
	cancel()
	select {
	case <-done:
	case <-ctx.Done():
		return fmt.Errorf("stop producer loop: %w", ctx.Err())
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// Wait returns a channel closed when the loop has ended.
func (p *Producer) Wait() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.done
}

// run is the loop. It returns nil when ctx ends or Count events were sent
// and acknowledged.
func (p *Producer) run(ctx context.Context) error {
	var (
		ev    generator.Event
		recs  = make([]sink.Record, 0, maxChunk)
		timer = time.NewTimer(time.Hour)
	)
	timer.Stop()
	for {
		limit := maxChunk
		if p.cfg.Count > 0 {
			left := p.cfg.Count - p.generated.Load()
			if left == 0 {
				break
			}
			limit = int(min(uint64(limit), left))
		}
		if ctx.Err() != nil {
			return nil
		}
		n, wait := p.pace.Take(p.opts.Now(), limit)
		if n == 0 {
			timer.Reset(wait)
			select {
			case <-ctx.Done():
				timer.Stop()
				return nil
			case <-timer.C:
			case <-p.pace.Changed():
				timer.Stop()
			}
			continue
		}
		if err := p.out.Acquire(ctx, n); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("reserve room for %d events: %w", n, err)
		}
		// One buffer per chunk holds every key and value. The sink refers to
		// them until Kafka acknowledged the whole chunk; then the buffer is
		// reused, so that full speed does not mean 80 MB/s of garbage.
		now := p.opts.Now()
		bufp, _ := p.bufs.Get().(*[]byte)
		if bufp == nil {
			b := make([]byte, 0, maxChunk*MaxRecordSize)
			bufp = &b
		}
		buf := (*bufp)[:0]
		recs = recs[:0]
		for range n {
			p.gen.Next(now, &ev)
			start := len(buf)
			var v int
			buf, v = AppendRecord(buf, &ev)
			recs = append(recs, sink.Record{Key: buf[start:v:v], Value: buf[v:len(buf):len(buf)], Type: ev.Type})
		}
		p.generated.Add(uint64(n))
		p.m.Generated(n)
		*bufp = buf
		if err := p.out.Send(ctx, recs, func() { p.bufs.Put(bufp) }); err != nil {
			return fmt.Errorf("send %d events: %w", n, err)
		}
	}
	p.log.Info("all events generated; waiting for acknowledgements", "count", p.cfg.Count)
	if err := p.out.Flush(ctx); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("flush: %w", err)
	}
	end := p.opts.Now()
	p.mu.Lock()
	p.end = end
	p.mu.Unlock()
	p.complete.Store(true)
	p.log.Info("count reached: every event sent and acknowledged", "count", p.cfg.Count, "duration", end.Sub(p.start).Round(time.Millisecond).String())
	return nil
}

// SetRate changes the rate at run time and returns the previous one. An
// invalid rate is refused (the error wraps pacer.ErrInvalidRate).
func (p *Producer) SetRate(r float64) (previous float64, err error) {
	previous, err = p.pace.SetRate(r, p.opts.Now())
	if err != nil {
		return 0, err
	}
	p.m.SetRate(r) // the API logs the change, with the client
	return previous, nil
}

// Status is a snapshot of the loop.
type Status struct {
	// Rate is the current target rate (0 = unlimited).
	Rate float64
	// Count is the configured number of events, 0 for no limit.
	Count uint64
	// Seed is the generator's seed (the effective one when 0 was asked for).
	Seed uint64
	// Generated is the number of events made and handed to the sink.
	Generated uint64
	// Started is when the loop started; zero before.
	Started time.Time
	// Complete says Count events were sent and acknowledged.
	Complete bool
	// Finished is when Count events were acknowledged; zero before.
	Finished time.Time
	// Err is what ended the loop, if it ended with an error.
	Err error
}

// Status returns the current snapshot.
func (p *Producer) Status() Status {
	p.mu.Lock()
	started, finished, err := p.start, p.end, p.err
	p.mu.Unlock()
	return Status{
		Rate:      p.pace.Rate(),
		Count:     p.cfg.Count,
		Seed:      p.gen.Seed(),
		Generated: p.generated.Load(),
		Started:   started,
		Complete:  p.complete.Load(),
		Finished:  finished,
		Err:       err,
	}
}
