package pipeline

import (
	"errors"
	"fmt"
	"time"

	"github.com/vehicle-stats/vehicle-stats/services/stats-processor/internal/eventtime"
)

// Start offsets for partitions with no saved state.
const (
	StartEarliest = "earliest"
	StartLatest   = "latest"
)

// Config is everything the pipeline needs; the service fills it from its
// configuration file, environment and flags.
type Config struct {
	// Brokers are the Kafka bootstrap addresses.
	Brokers []string
	// InputTopic holds Vehicle records.
	InputTopic string
	// OutputTopic receives VehicleStatistics records.
	OutputTopic string
	// DeadLetterTopic receives records that do not decode or validate.
	DeadLetterTopic string
	// LateTopic receives late events; empty means they are only counted.
	LateTopic string
	// GroupID is the Kafka consumer group shared by all instances.
	GroupID string
	// StartOffset is where a partition with no saved state starts:
	// StartEarliest or StartLatest.
	StartOffset string
	// InputPartitions is used only when the input topic does not exist yet
	// and the pipeline creates it.
	InputPartitions int
	// OutputPartitions is the partition count of the output, dead-letter and
	// late topics when the pipeline creates them.
	OutputPartitions int
	// ReplicationFactor of the topics the pipeline creates.
	ReplicationFactor int

	// EventTime is window size, out-of-orderness, idle timeout and the
	// bound on event times ahead of their records.
	EventTime eventtime.Config

	// CheckpointInterval is how often each partition saves its state to
	// Redis while it has news (and refreshes its idle lease).
	CheckpointInterval time.Duration
	// CloseInterval is how often the closer looks for windows to close.
	CloseInterval time.Duration
	// Retention is how long closed windows stay readable in /stats.
	Retention time.Duration
	// SessionTimeout is the consumer group session: how long a dead
	// instance keeps its partitions before the group gives them away.
	SessionTimeout time.Duration
	// FetchMaxBytes bounds one fetch of one partition, and so memory.
	FetchMaxBytes int
	// FetchMaxWait is how long the broker may hold a fetch for new data.
	FetchMaxWait time.Duration
	// InstanceID names this instance in Redis and logs.
	InstanceID string
}

// DefaultConfig returns the contract's defaults.
func DefaultConfig() Config {
	return Config{
		Brokers:            []string{"localhost:9092"},
		InputTopic:         "vehicle-topic",
		OutputTopic:        "vehicle-statistics-topic",
		DeadLetterTopic:    "vehicle-dead-letter-topic",
		GroupID:            "vehicle-statistics",
		StartOffset:        StartLatest,
		InputPartitions:    6,
		OutputPartitions:   1,
		ReplicationFactor:  1,
		EventTime:          eventtime.Config{WindowSize: 20 * time.Second, IdleTimeout: 30 * time.Second, MaxFuture: time.Hour},
		CheckpointInterval: time.Second,
		CloseInterval:      250 * time.Millisecond,
		Retention:          24 * time.Hour,
		SessionTimeout:     10 * time.Second,
		FetchMaxBytes:      4 << 20,
		FetchMaxWait:       500 * time.Millisecond,
	}
}

// Validate reports every problem, each prefixed with its configuration key.
func (c Config) Validate() error {
	var errs []error
	add := func(ok bool, format string, args ...any) {
		if !ok {
			errs = append(errs, fmt.Errorf(format, args...))
		}
	}
	add(len(c.Brokers) > 0, "kafka.brokers: name at least one broker (host:port)")
	add(c.InputTopic != "", "kafka.input_topic: must not be empty")
	add(c.OutputTopic != "", "kafka.output_topic: must not be empty")
	add(c.DeadLetterTopic != "", "kafka.dead_letter_topic: must not be empty")
	add(c.GroupID != "", "kafka.group_id: must not be empty")
	add(c.StartOffset == StartEarliest || c.StartOffset == StartLatest, "kafka.start_offset: %q is neither earliest nor latest", c.StartOffset)
	add(c.InputTopic != c.OutputTopic && c.InputTopic != c.DeadLetterTopic && c.InputTopic != c.LateTopic,
		"kafka.input_topic: %q is also an output topic", c.InputTopic)
	add(c.InputPartitions > 0, "kafka.input_partitions: must be at least 1")
	add(c.OutputPartitions > 0, "kafka.output_partitions: must be at least 1")
	add(c.ReplicationFactor > 0, "kafka.replication_factor: must be at least 1")
	add(c.CheckpointInterval >= 10*time.Millisecond && c.CheckpointInterval <= time.Minute, "checkpoint.interval: %s must be between 10ms and 1m", c.CheckpointInterval)
	add(c.CloseInterval >= 10*time.Millisecond && c.CloseInterval <= time.Minute, "checkpoint.close_interval: %s must be between 10ms and 1m", c.CloseInterval)
	add(c.Retention >= time.Minute, "state.retention: %s must be at least 1m", c.Retention)
	add(c.SessionTimeout >= 6*time.Second && c.SessionTimeout <= 5*time.Minute, "kafka.session_timeout: %s must be between 6s and 5m (the broker's limits)", c.SessionTimeout)
	add(c.FetchMaxBytes >= 64<<10 && c.FetchMaxBytes <= 64<<20, "kafka.fetch_max_bytes: %d must be between 64 KiB and 64 MiB", c.FetchMaxBytes)
	add(c.FetchMaxWait >= 10*time.Millisecond && c.FetchMaxWait <= 10*time.Second, "kafka.fetch_max_wait: %s must be between 10ms and 10s", c.FetchMaxWait)
	if err := c.EventTime.Validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// idleLease is how long an idle report stays valid without renewal: long
// enough to survive a few missed checkpoints, short enough that a dead
// owner's partition soon holds the watermark again.
func (c Config) idleLease() time.Duration {
	return max(3*c.CheckpointInterval, 3*time.Second)
}
