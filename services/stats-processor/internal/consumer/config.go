package consumer

import (
	"fmt"
	"time"

	"github.com/vehicle-stats/vehicle-stats/internal/validate"
)

// Start offsets for partitions with no saved state.
const (
	StartEarliest = "earliest"
	StartLatest   = "latest"
)

// Config is how the processor reads its input: as a member of a consumer
// group, one fetch per partition (or, owning many, one per broker).
type Config struct {
	// GroupID is the Kafka consumer group shared by all instances.
	GroupID string `mapstructure:"group_id" usage:"consumer group shared by all instances"`
	// StartOffset is where a partition with no saved state starts:
	// StartEarliest or StartLatest.
	StartOffset string `mapstructure:"start_offset" usage:"where a partition with no saved state starts: latest or earliest"`
	// SessionTimeout is the consumer group session: how long a dead
	// instance keeps its partitions before the group gives them away.
	SessionTimeout time.Duration `mapstructure:"session_timeout" usage:"consumer group session timeout: how soon a dead instance's partitions move"`
	// FetchMaxBytes bounds one fetch of one partition, and so memory.
	FetchMaxBytes int `mapstructure:"fetch_max_bytes" usage:"largest fetch of one partition, in bytes"`
	// FetchMaxWait is how long the broker may hold a fetch for new data.
	FetchMaxWait time.Duration `mapstructure:"fetch_max_wait" usage:"how long the broker may hold a fetch for new data"`
	// FetchSharedAbove is how many input partitions an instance may own
	// and still fetch each over a connection of its own; owning more, it
	// fetches them together, one request per broker for every partition
	// waiting for records (0: always together).
	FetchSharedAbove int `mapstructure:"fetch_shared_above" usage:"owning more input partitions than this, an instance fetches them together, one request per broker (0: always)"`
	// SidePendingMaxBytes bounds the dead letters and late events a
	// partition holds before it writes them and saves: once they reach it,
	// the partition stops reading its batch there and saves. Their writes
	// are cut into requests below each topic's max.message.bytes anyway;
	// this bounds memory and how much a failed save writes again.
	SidePendingMaxBytes int `mapstructure:"side_pending_max_bytes" usage:"dead letters and late events a partition holds before it writes them and saves, in bytes"`
}

// DefaultConfig returns the contract's defaults and the processor's own.
func DefaultConfig() Config {
	return Config{
		GroupID:             "vehicle-statistics",
		StartOffset:         StartLatest,
		SessionTimeout:      10 * time.Second,
		FetchMaxBytes:       4 << 20,
		FetchMaxWait:        500 * time.Millisecond,
		FetchSharedAbove:    64,
		SidePendingMaxBytes: 4 << 20,
	}
}

// Validate reports every problem, keyed by field (group_id, ...).
func (c Config) Validate() error {
	var ch validate.Check
	ch.Require(c.GroupID != "", "group_id", "must not be empty")
	ch.Require(c.StartOffset == StartEarliest || c.StartOffset == StartLatest, "start_offset",
		fmt.Sprintf("%q is neither earliest nor latest", c.StartOffset))
	ch.Require(c.SessionTimeout >= 6*time.Second && c.SessionTimeout <= 5*time.Minute, "session_timeout",
		fmt.Sprintf("%s must be between 6s and 5m (the broker's limits)", c.SessionTimeout))
	ch.Require(c.FetchMaxBytes >= 64<<10 && c.FetchMaxBytes <= 64<<20, "fetch_max_bytes",
		fmt.Sprintf("%d must be between 64 KiB and 64 MiB", c.FetchMaxBytes))
	ch.Require(c.FetchMaxWait >= 10*time.Millisecond && c.FetchMaxWait <= 10*time.Second, "fetch_max_wait",
		fmt.Sprintf("%s must be between 10ms and 10s", c.FetchMaxWait))
	ch.Require(c.FetchSharedAbove >= 0 && c.FetchSharedAbove <= 1_000_000, "fetch_shared_above",
		fmt.Sprintf("%d must be between 0 and 1000000", c.FetchSharedAbove))
	ch.Require(c.SidePendingMaxBytes >= 64<<10 && c.SidePendingMaxBytes <= 256<<20, "side_pending_max_bytes",
		fmt.Sprintf("%d must be between 64 KiB and 256 MiB", c.SidePendingMaxBytes))
	return ch.Err()
}

// CheckpointConfig is how often a partition saves its state: the key
// checkpoint.interval, beside the closer's checkpoint.close_interval.
type CheckpointConfig struct {
	// Interval is how often each partition saves its state to Redis while
	// it has news (and renews its idle lease); 1 s when zero.
	Interval time.Duration `mapstructure:"interval" usage:"how often each partition saves its state to Redis"`
}

// DefaultCheckpointConfig returns the contract's default.
func DefaultCheckpointConfig() CheckpointConfig { return CheckpointConfig{Interval: time.Second} }

// Validate reports a bad interval, keyed "interval".
func (c CheckpointConfig) Validate() error {
	var ch validate.Check
	ch.Require(c.Interval >= 10*time.Millisecond && c.Interval <= time.Minute, "interval", fmt.Sprintf("%s must be between 10ms and 1m", c.Interval))
	return ch.Err()
}
