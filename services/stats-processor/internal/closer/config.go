package closer

import (
	"fmt"
	"time"

	"github.com/vehicle-stats/vehicle-stats/internal/validate"
)

// Config is how often the closer runs: the key checkpoint.close_interval,
// beside the consumer's checkpoint.interval.
type Config struct {
	// Interval is how often the closer computes the pipeline watermark and
	// looks for windows to close; 250 ms when zero.
	Interval time.Duration `mapstructure:"close_interval" usage:"how often the closer looks for windows to close"`
}

// DefaultConfig returns the contract's default.
func DefaultConfig() Config { return Config{Interval: 250 * time.Millisecond} }

// Validate reports a bad interval, keyed "close_interval".
func (c Config) Validate() error {
	var ch validate.Check
	ch.Require(c.Interval >= 10*time.Millisecond && c.Interval <= time.Minute, "close_interval", fmt.Sprintf("%s must be between 10ms and 1m", c.Interval))
	return ch.Err()
}
