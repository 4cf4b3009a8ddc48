package eventtime

import (
	"fmt"
	"math"
	"time"

	"github.com/vehicle-stats/vehicle-stats/internal/validate"
	"github.com/vehicle-stats/vehicle-stats/pkg/model"
)

// NoWatermark is the watermark of a partition that has seen no event, and the
// pipeline watermark while some partition holds it there.
const NoWatermark int64 = math.MinInt64

// Config is the event-time part of the processor's configuration: the
// window and the watermark, each in its own section.
type Config struct {
	Window    WindowConfig    `mapstructure:"window"`
	Watermark WatermarkConfig `mapstructure:"watermark"`
}

// WindowConfig is the tumbling window.
type WindowConfig struct {
	// Size is the length of the tumbling windows.
	Size time.Duration `mapstructure:"size" usage:"tumbling window size"`
}

// WatermarkConfig is how the watermark follows the events.
type WatermarkConfig struct {
	// MaxOutOfOrderness is how far behind the largest event time seen on a
	// partition an event may be and still count.
	MaxOutOfOrderness time.Duration `mapstructure:"max_out_of_orderness" usage:"how far behind the largest event time an event may be and still count"`
	// IdleTimeout is how long a partition read to its end must see no event
	// before it stops holding the pipeline watermark back.
	IdleTimeout time.Duration `mapstructure:"idle_timeout" usage:"how long a caught-up partition without events holds the watermark back"`
	// MaxFuture is how far an event time may be ahead of its Kafka record's
	// timestamp before the record is rejected as bad (CheckFuture); 0 turns
	// the check off.
	MaxFuture time.Duration `mapstructure:"max_future" usage:"an event more than this ahead of its Kafka record's timestamp is a bad record (dead letter); 0 = off"`
}

// DefaultConfig returns the contract's defaults: 20 s windows, no
// out-of-orderness, 30 s idle timeout, events at most 1 h ahead of their
// records.
func DefaultConfig() Config {
	return Config{
		Window:    WindowConfig{Size: 20 * time.Second},
		Watermark: WatermarkConfig{IdleTimeout: 30 * time.Second, MaxFuture: time.Hour},
	}
}

// Validate reports every problem at once, keyed by the field's path below
// Config (window.size, watermark.idle_timeout, ...).
func (c Config) Validate() error {
	var ch validate.Check
	ch.Merge("window", c.Window.Validate())
	ch.Merge("watermark", c.Watermark.Validate())
	return ch.Err()
}

// Validate reports a size that is not a positive whole number of
// milliseconds, keyed "size".
func (c WindowConfig) Validate() error {
	var ch validate.Check
	ch.Require(c.Size >= time.Millisecond && c.Size%time.Millisecond == 0, "size",
		fmt.Sprintf("%s must be a whole number of milliseconds, at least 1ms", c.Size))
	return ch.Err()
}

// Validate reports every problem at once, keyed by field.
func (c WatermarkConfig) Validate() error {
	var ch validate.Check
	ch.Require(c.MaxOutOfOrderness >= 0 && c.MaxOutOfOrderness%time.Millisecond == 0, "max_out_of_orderness",
		fmt.Sprintf("%s must be 0 or a positive whole number of milliseconds", c.MaxOutOfOrderness))
	ch.Require(c.IdleTimeout >= time.Millisecond, "idle_timeout", fmt.Sprintf("%s must be at least 1ms", c.IdleTimeout))
	ch.Require(c.MaxFuture >= 0 && c.MaxFuture%time.Millisecond == 0, "max_future",
		fmt.Sprintf("%s must be 0 (off) or a positive whole number of milliseconds", c.MaxFuture))
	return ch.Err()
}

func (c Config) size() int64 { return c.Window.Size.Milliseconds() }
func (c Config) ooo() int64  { return c.Watermark.MaxOutOfOrderness.Milliseconds() }
func (c Config) idle() int64 { return c.Watermark.IdleTimeout.Milliseconds() }

// WatermarkOf is the watermark that follows from the largest event time seen
// on a partition: maxEventTime - maxOutOfOrderness - 1, or NoWatermark.
func WatermarkOf(maxEventTime int64, maxOutOfOrderness time.Duration) int64 {
	if maxEventTime == NoWatermark {
		return NoWatermark
	}
	return maxEventTime - maxOutOfOrderness.Milliseconds() - 1
}

// ClosedThrough is the end of the last window that a watermark closes: every
// window whose end-1 is at or below w, i.e. whose end is at or below the
// returned bound, is closed. NoWatermark closes nothing and returns it.
func ClosedThrough(w int64, size time.Duration) int64 {
	if w == NoWatermark {
		return NoWatermark
	}
	return model.WindowStart(w+1, size.Milliseconds())
}

// Counts are the per-type counts of one window, indexed by
// VehicleType.Index.
type Counts [model.NumVehicleTypes]int64

// Total is the sum over all types.
func (c *Counts) Total() int64 {
	var t int64
	for _, n := range c {
		t += n
	}
	return t
}

// Verdict is what Add decided about an event.
type Verdict uint8

const (
	// Counted events were added to their window's counts.
	Counted Verdict = iota
	// LateByWatermark events broke the declared out-of-orderness: their
	// window's end-1 was at or below the partition's watermark.
	LateByWatermark
	// LateByClosedWindow events belong to a window the pipeline had already
	// closed (possible after the partition was idle).
	LateByClosedWindow
)

// Late reports whether the event was not counted.
func (v Verdict) Late() bool { return v != Counted }

// Partition is the event-time state of one input partition: the largest event
// time seen, the bound below which windows are closed, and the partial counts
// of its open windows, with the set changed since the last save.
type Partition struct {
	size, ooo     int64
	maxEventTime  int64
	closedThrough int64
	windows       map[int64]*Counts
	dirty         map[int64]struct{}
	// cache of the last window touched: in-order streams hit it almost always.
	lastStart  int64
	lastCounts *Counts
}

// NewPartition returns the state of a partition that has seen nothing.
func NewPartition(cfg Config) *Partition {
	return &Partition{
		size:          cfg.size(),
		ooo:           cfg.ooo(),
		maxEventTime:  NoWatermark,
		closedThrough: NoWatermark,
		windows:       make(map[int64]*Counts),
		dirty:         make(map[int64]struct{}),
		lastStart:     NoWatermark,
	}
}

// Restore sets the state saved at a checkpoint: nothing is dirty afterwards.
// Windows at or below closedThrough are ignored.
func (p *Partition) Restore(maxEventTime, closedThrough int64, windows map[int64]Counts) {
	p.maxEventTime = maxEventTime
	p.closedThrough = closedThrough
	clear(p.windows)
	clear(p.dirty)
	p.lastStart, p.lastCounts = NoWatermark, nil
	for start, c := range windows {
		if start+p.size <= closedThrough {
			continue
		}
		c := c
		p.windows[start] = &c
	}
}

// MaxEventTime is the largest event time seen, or NoWatermark.
func (p *Partition) MaxEventTime() int64 { return p.maxEventTime }

// Watermark is the partition's watermark, or NoWatermark.
func (p *Partition) Watermark() int64 {
	if p.maxEventTime == NoWatermark {
		return NoWatermark
	}
	return p.maxEventTime - p.ooo - 1
}

// ClosedThrough is the bound at or below which this partition's windows are
// closed (NoWatermark: none).
func (p *Partition) ClosedThrough() int64 { return p.closedThrough }

// Add classifies one valid event and counts it unless it is late. Every
// event, late or not, advances the largest event time seen.
func (p *Partition) Add(t int64, typ model.VehicleType) Verdict {
	start := model.WindowStart(t, p.size)
	end := start + p.size
	v := Counted
	switch {
	case end <= p.closedThrough:
		v = LateByClosedWindow
	case p.maxEventTime != NoWatermark && end-1 <= p.maxEventTime-p.ooo-1:
		v = LateByWatermark
	default:
		c := p.lastCounts
		if start != p.lastStart || c == nil {
			c = p.windows[start]
			if c == nil {
				c = new(Counts)
				p.windows[start] = c
			}
			p.lastStart, p.lastCounts = start, c
		}
		c[typ.Index()]++
		if _, ok := p.dirty[start]; !ok {
			p.dirty[start] = struct{}{}
		}
	}
	if t > p.maxEventTime {
		p.maxEventTime = t
	}
	return v
}

// Dirty calls fn for each window changed since the last MarkSaved, with its
// current counts.
func (p *Partition) Dirty(fn func(start int64, c Counts)) {
	for start := range p.dirty {
		fn(start, *p.windows[start])
	}
}

// HasDirty reports whether some window changed since the last MarkSaved.
func (p *Partition) HasDirty() bool { return len(p.dirty) > 0 }

// MarkSaved forgets which windows changed: their counts are now saved.
func (p *Partition) MarkSaved() { clear(p.dirty) }

// Seal records that the pipeline closed every window ending at or below
// through, and drops their counts. It reports whether a dropped window had
// unsaved counts: those events were counted in a window the pipeline closed
// without them, so the caller must restore the last saved state and replay.
func (p *Partition) Seal(through int64) (lostUnsaved bool) {
	if through <= p.closedThrough {
		return false
	}
	p.closedThrough = through
	for start := range p.windows {
		if start+p.size > through {
			continue
		}
		if _, ok := p.dirty[start]; ok {
			lostUnsaved = true
			delete(p.dirty, start)
		}
		delete(p.windows, start)
	}
	p.lastStart, p.lastCounts = NoWatermark, nil
	return lostUnsaved
}

// Windows calls fn for each open window with its counts, in no order.
func (p *Partition) Windows(fn func(start int64, c Counts)) {
	for start, c := range p.windows {
		fn(start, *c)
	}
}

// IsIdle reports whether a partition is idle at now: read up to its end, and
// no record arrived on it for idleTimeout since lastActivity (the arrival of
// its last record, or when its consumer started, whichever is later).
func IsIdle(caughtUp bool, lastActivity, now int64, idleTimeout time.Duration) bool {
	return caughtUp && now-lastActivity >= idleTimeout.Milliseconds()
}

// PartitionStatus is what the pipeline watermark needs of one partition.
type PartitionStatus struct {
	// Watermark is the partition's saved watermark, or NoWatermark.
	Watermark int64
	// Idle is true when the partition's live owner reports it idle.
	Idle bool
}

// PipelineWatermark is the minimum watermark over the partitions that are not
// idle; when every partition is idle, the wall clock: now -
// maxOutOfOrderness - idleTimeout. With no partitions it is NoWatermark.
func PipelineWatermark(parts []PartitionStatus, now int64, cfg Config) int64 {
	if len(parts) == 0 {
		return NoWatermark
	}
	w, active := int64(math.MaxInt64), false
	for _, p := range parts {
		if p.Idle {
			continue
		}
		active = true
		w = min(w, p.Watermark)
	}
	if !active {
		return now - cfg.ooo() - cfg.idle()
	}
	return w
}
