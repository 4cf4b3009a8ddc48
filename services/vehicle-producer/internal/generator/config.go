package generator

import (
	"fmt"
	"math"
	"time"

	"github.com/vehicle-stats/vehicle-stats/internal/validate"
	"github.com/vehicle-stats/vehicle-stats/pkg/model"
)

// Weights is the relative frequency of each vehicle type. Only the ratios
// matter: {Car: 87, Truck: 11, ...} is the same mix as {Car: 0.87, Truck:
// 0.11, ...}. A zero weight means the type never occurs.
type Weights struct {
	// Car is the weight of CAR.
	Car float64 `mapstructure:"car" usage:"relative weight of CAR in the type mix"`
	// Truck is the weight of TRUCK.
	Truck float64 `mapstructure:"truck" usage:"relative weight of TRUCK in the type mix"`
	// Bus is the weight of BUS.
	Bus float64 `mapstructure:"bus" usage:"relative weight of BUS in the type mix"`
	// Van is the weight of VAN.
	Van float64 `mapstructure:"van" usage:"relative weight of VAN in the type mix"`
	// Motorcycle is the weight of MOTORCYCLE.
	Motorcycle float64 `mapstructure:"motorcycle" usage:"relative weight of MOTORCYCLE in the type mix"`
}

// DefaultWeights is close to the original demo (about 11% trucks, the rest
// cars) with the three types the demo did not have made rare but present, so
// that every type shows up in the statistics.
func DefaultWeights() Weights {
	return Weights{Car: 0.87, Truck: 0.11, Van: 0.01, Bus: 0.005, Motorcycle: 0.005}
}

// Of returns the weight of t, 0 for an invalid type.
func (w Weights) Of(t model.VehicleType) float64 {
	switch t {
	case model.Car:
		return w.Car
	case model.Truck:
		return w.Truck
	case model.Bus:
		return w.Bus
	case model.Van:
		return w.Van
	case model.Motorcycle:
		return w.Motorcycle
	}
	return 0
}

// Share returns the probability of t under these weights: its weight over
// the sum.
func (w Weights) Share(t model.VehicleType) float64 {
	sum := 0.0
	for _, u := range model.VehicleTypes() {
		sum += w.Of(u)
	}
	return w.Of(t) / sum
}

// Validate reports each negative or non-finite weight under its own key
// (car, truck, ...). An all-zero mix is reported by Config.Validate, under
// the key of the whole mix.
func (w Weights) Validate() error {
	var c validate.Check
	for _, t := range model.VehicleTypes() {
		v := w.Of(t)
		key := lowerName(t)
		if math.IsNaN(v) || math.IsInf(v, 0) {
			c.Require(false, key, fmt.Sprintf("must be a finite number, got %g", v))
			continue
		}
		c.Require(v >= 0, key, fmt.Sprintf("must not be negative, got %g", v))
	}
	return c.Err()
}

// positiveSum is the sum of the positive, finite weights.
func (w Weights) positiveSum() float64 {
	sum := 0.0
	for _, t := range model.VehicleTypes() {
		if v := w.Of(t); v > 0 && !math.IsInf(v, 0) {
			sum += v
		}
	}
	return sum
}

func lowerName(t model.VehicleType) string {
	switch t {
	case model.Car:
		return "car"
	case model.Truck:
		return "truck"
	case model.Bus:
		return "bus"
	case model.Van:
		return "van"
	case model.Motorcycle:
		return "motorcycle"
	}
	return t.String()
}

// Config says what the generator makes. The zero value is not useful; start
// from DefaultConfig.
type Config struct {
	// Weights is the vehicle type mix.
	Weights Weights `mapstructure:"weights"`
	// Jitter is the largest out-of-order delay: each event's time is now
	// minus a uniform random delay in [0, Jitter). 0 turns it off (every
	// event is stamped now, so the stream is in order).
	Jitter time.Duration `mapstructure:"jitter" usage:"max out-of-order delay of an event time (0 = off)"`
	// LateFraction is the probability, 0..1, that an event is late: stamped
	// further in the past than Jitter allows, by more than LateDelay, so that
	// a processor whose window is LateDelay and whose allowed out-of-order
	// delay is Jitter must treat it as late. 0 turns it off.
	LateFraction float64 `mapstructure:"late_fraction" usage:"fraction 0..1 of events stamped late (0 = off)"`
	// LateDelay is how far beyond Jitter a late event lies at least: a late
	// event's delay is uniform in (Jitter+LateDelay, Jitter+2*LateDelay]. Set
	// it to the processor's window.size.
	LateDelay time.Duration `mapstructure:"late_delay" usage:"a late event is older than jitter plus this (set to the processor's window.size)"`
}

// DefaultConfig has the default type mix, no jitter and no late events.
func DefaultConfig() Config {
	return Config{Weights: DefaultWeights(), LateDelay: 20 * time.Second}
}

// MaxDelay bounds Jitter and LateDelay: an event time more than a day in the
// past is a typo in a duration, not a simulation.
const MaxDelay = 24 * time.Hour

// Validate reports every bad setting under its key (weights.car, jitter,
// late_fraction, late_delay).
func (c Config) Validate() error {
	var ch validate.Check
	if err := c.Weights.Validate(); err != nil {
		ch.Merge("weights", err)
	} else {
		ch.Require(c.Weights.positiveSum() > 0, "weights", "at least one vehicle type needs a positive weight")
	}
	ch.Require(c.Jitter >= 0 && c.Jitter <= MaxDelay, "jitter", fmt.Sprintf("must be between 0s and %s, got %s", MaxDelay, c.Jitter))
	ch.Require(c.LateFraction >= 0 && c.LateFraction <= 1, "late_fraction", fmt.Sprintf("must be between 0 and 1, got %g", c.LateFraction))
	ch.Require(c.LateDelay > 0 && c.LateDelay <= MaxDelay, "late_delay", fmt.Sprintf("must be between 1ms and %s, got %s", MaxDelay, c.LateDelay))
	return ch.Err()
}
