package generator

import (
	crand "crypto/rand"
	"encoding/binary"
	"fmt"
	"math/bits"
	"math/rand/v2"
	"time"

	"github.com/vehicle-stats/vehicle-stats/pkg/model"
)

// Event is one generated vehicle sighting. Next fills an Event in place
// without allocating; the plate and sticker are held in fixed arrays, and
// Plate, Sticker and Vehicle give them out.
type Event struct {
	// Seq numbers the events of a Generator: 1 for the first.
	Seq uint64
	// Type is the vehicle type, always valid.
	Type model.VehicleType
	// Time is the event time: the clock's now minus Delay.
	Time time.Time
	// Delay is how far Time lies before the clock's now: 0 unless jitter or
	// late events are on.
	Delay time.Duration
	// Late says the event was made late on purpose (Config.LateFraction).
	Late bool

	plateLen uint8
	plate    [maxPlateLen]byte
	sticker  [stickerLen]byte
}

// Plate returns the plate number, e.g. "CA1234AB". The slice points into e
// and changes with it.
func (e *Event) Plate() []byte { return e.plate[:e.plateLen] }

// Sticker returns the vignette sticker id, a lower-case version 4 UUID. The
// slice points into e and changes with it.
func (e *Event) Sticker() []byte { return e.sticker[:] }

// Vehicle returns the event as the contract's model, with copies of the
// plate and sticker (two small allocations; the hot path uses Plate and
// Sticker instead).
func (e *Event) Vehicle() model.Vehicle {
	return model.Vehicle{
		PlateNumber:       string(e.Plate()),
		VignetteStickerID: string(e.Sticker()),
		Timestamp:         e.Time,
		VehicleType:       e.Type,
	}
}

// Generator makes a reproducible sequence of events. It is not safe for
// concurrent use; one goroutine owns it.
type Generator struct {
	rng          rand.PCG
	seed         uint64
	seq          uint64
	types        [model.NumVehicleTypes]model.VehicleType
	cumulative   [model.NumVehicleTypes]float64
	ntypes       int
	jitter       uint64 // ns
	lateDelay    uint64 // ns
	lateFraction float64
}

// pcgStream is the PCG's second seed word. It is a constant so that a seed
// alone fixes the sequence; changing it changes every seeded run.
const pcgStream = 0x5eed_7ea5_1cab_1e55

// New returns a generator for cfg whose random choices all derive from seed:
// the same cfg and seed give the same sequence of plates, stickers, types and
// delays. Any seed is valid, 0 included; picking a random one is the
// caller's business (see RandomSeed).
func New(cfg Config, seed uint64) (*Generator, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("generator: %w", err)
	}
	g := &Generator{
		seed:         seed,
		jitter:       uint64(cfg.Jitter),
		lateDelay:    uint64(cfg.LateDelay),
		lateFraction: cfg.LateFraction,
	}
	g.rng.Seed(seed, pcgStream)
	sum := cfg.Weights.positiveSum()
	acc := 0.0
	for _, t := range model.VehicleTypes() {
		w := cfg.Weights.Of(t)
		if !(w > 0) {
			continue
		}
		acc += w / sum
		g.types[g.ntypes] = t
		g.cumulative[g.ntypes] = acc
		g.ntypes++
	}
	// Rounding may leave the last bound a hair under 1; a draw above it must
	// still pick a type.
	g.cumulative[g.ntypes-1] = 1
	return g, nil
}

// RandomSeed returns a non-zero seed from the operating system's random
// source, for runs that asked for seed 0 (random). Log it: it reproduces the
// run. It is below 2^53, so it survives JSON parsers that read numbers as
// float64 (jq, JavaScript) when copied from a log line or /status.
func RandomSeed() uint64 {
	var b [8]byte
	for {
		_, _ = crand.Read(b[:]) // never fails on supported platforms (Go 1.24+)
		if s := binary.LittleEndian.Uint64(b[:]) & (1<<53 - 1); s != 0 {
			return s
		}
	}
}

// Seed returns the seed the generator was made with.
func (g *Generator) Seed() uint64 { return g.seed }

// Count returns how many events Next has made.
func (g *Generator) Count() uint64 { return g.seq }

// Next fills e with the next event of the sequence, stamped relative to now.
// Per event it draws, in this order: the type, the plate, the sticker, then
// the jitter delay (only when jitter is on) and the late decision and delay
// (only when late events are on).
func (g *Generator) Next(now time.Time, e *Event) {
	g.seq++
	e.Seq = g.seq
	e.Type = g.pickType()
	g.fillPlate(e)
	g.fillSticker(e)

	var delay uint64
	if g.jitter > 0 {
		delay = g.below(g.jitter)
	}
	e.Late = false
	if g.lateFraction > 0 && unit(g.rng.Uint64()) < g.lateFraction {
		// (jitter + lateDelay, jitter + 2*lateDelay]: older than any in-order
		// event can be, by more than a window.
		delay = g.jitter + g.lateDelay + uint64(time.Millisecond) + g.below(g.lateDelay)
		e.Late = true
	}
	e.Delay = time.Duration(delay)
	e.Time = now.Add(-e.Delay)
}

func (g *Generator) pickType() model.VehicleType {
	f := unit(g.rng.Uint64())
	for i := 0; i < g.ntypes-1; i++ {
		if f < g.cumulative[i] {
			return g.types[i]
		}
	}
	return g.types[g.ntypes-1]
}

// below returns a uniform number in [0, n) for n > 0 (Lemire's
// multiply-shift; the bias is below n/2^64, far under what any test sees).
func (g *Generator) below(n uint64) uint64 {
	hi, _ := bits.Mul64(g.rng.Uint64(), n)
	return hi
}

// unit maps 64 random bits to a float64 in [0, 1).
func unit(u uint64) float64 { return float64(u>>11) * 0x1p-53 }
