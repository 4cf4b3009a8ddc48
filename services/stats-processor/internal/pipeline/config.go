package pipeline

import (
	"fmt"
	"time"

	"github.com/vehicle-stats/vehicle-stats/internal/config"
	"github.com/vehicle-stats/vehicle-stats/internal/kafkasecurity"
	"github.com/vehicle-stats/vehicle-stats/services/stats-processor/internal/eventtime"
)

// Start offsets for partitions with no saved state.
const (
	StartEarliest = "earliest"
	StartLatest   = "latest"
)

// TopicsConfig is the Kafka connection and the processor's topics: their
// names, and their layout when the processor creates them.
type TopicsConfig struct {
	// Brokers are the Kafka bootstrap addresses.
	Brokers []string `mapstructure:"brokers" usage:"Kafka bootstrap brokers, comma-separated"`
	// InputTopic holds Vehicle records.
	InputTopic string `mapstructure:"input_topic" usage:"topic of Vehicle records"`
	// OutputTopic receives VehicleStatistics records.
	OutputTopic string `mapstructure:"output_topic" usage:"topic for VehicleStatistics records"`
	// DeadLetterTopic receives records that do not decode or validate.
	DeadLetterTopic string `mapstructure:"dead_letter_topic" usage:"topic for records that do not decode or validate"`
	// LateTopic receives late events; empty means they are only counted.
	LateTopic string `mapstructure:"late_topic" usage:"topic for late events; empty: off"`
	// InputPartitions is used only when the input topic does not exist yet
	// and the processor creates it.
	InputPartitions int `mapstructure:"input_partitions" usage:"partitions of the input topic if this service creates it"`
	// OutputPartitions is the partition count of the output, dead-letter and
	// late topics when the processor creates them.
	OutputPartitions int `mapstructure:"output_partitions" usage:"partitions of the output, dead-letter and late topics if this service creates them"`
	// ReplicationFactor of the topics the processor creates.
	ReplicationFactor int `mapstructure:"replication_factor" usage:"replication factor of topics this service creates"`
	// TLS and SASL secure the connections to the brokers (tls.*, sasl.*).
	TLS  kafkasecurity.TLSConfig  `mapstructure:"tls"`
	SASL kafkasecurity.SASLConfig `mapstructure:"sasl"`
}

// DefaultTopicsConfig returns the contract's defaults.
func DefaultTopicsConfig() TopicsConfig {
	return TopicsConfig{
		Brokers:           []string{"localhost:9092"},
		InputTopic:        "vehicle-topic",
		OutputTopic:       "vehicle-statistics-topic",
		DeadLetterTopic:   "vehicle-dead-letter-topic",
		InputPartitions:   6,
		OutputPartitions:  1,
		ReplicationFactor: 1,
		TLS:               kafkasecurity.DefaultConfig().TLS,
		SASL:              kafkasecurity.DefaultConfig().SASL,
	}
}

// Security is the TLS and SASL part.
func (c TopicsConfig) Security() kafkasecurity.Config {
	return kafkasecurity.Config{TLS: c.TLS, SASL: c.SASL}
}

// Validate reports every problem, keyed by field (brokers, input_topic, ...).
func (c TopicsConfig) Validate() error {
	var ch config.Check
	ch.Require(len(c.Brokers) > 0, "brokers", "name at least one broker (host:port)")
	ch.Require(c.InputTopic != "", "input_topic", "must not be empty")
	ch.Require(c.OutputTopic != "", "output_topic", "must not be empty")
	ch.Require(c.DeadLetterTopic != "", "dead_letter_topic", "must not be empty")
	ch.Require(c.InputTopic != c.OutputTopic && c.InputTopic != c.DeadLetterTopic && c.InputTopic != c.LateTopic,
		"input_topic", fmt.Sprintf("%q is also an output topic", c.InputTopic))
	ch.Require(c.InputPartitions > 0, "input_partitions", "must be at least 1")
	ch.Require(c.OutputPartitions > 0, "output_partitions", "must be at least 1")
	ch.Require(c.ReplicationFactor > 0, "replication_factor", "must be at least 1")
	ch.Merge("", c.Security().Validate())
	return ch.Err()
}

// ConsumerConfig is how the processor reads its input: as a member of a
// consumer group, one fetch per partition.
type ConsumerConfig struct {
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
}

// DefaultConsumerConfig returns the contract's defaults and the
// processor's own.
func DefaultConsumerConfig() ConsumerConfig {
	return ConsumerConfig{
		GroupID:        "vehicle-statistics",
		StartOffset:    StartLatest,
		SessionTimeout: 10 * time.Second,
		FetchMaxBytes:  4 << 20,
		FetchMaxWait:   500 * time.Millisecond,
	}
}

// Validate reports every problem, keyed by field (group_id, ...).
func (c ConsumerConfig) Validate() error {
	var ch config.Check
	ch.Require(c.GroupID != "", "group_id", "must not be empty")
	ch.Require(c.StartOffset == StartEarliest || c.StartOffset == StartLatest, "start_offset",
		fmt.Sprintf("%q is neither earliest nor latest", c.StartOffset))
	ch.Require(c.SessionTimeout >= 6*time.Second && c.SessionTimeout <= 5*time.Minute, "session_timeout",
		fmt.Sprintf("%s must be between 6s and 5m (the broker's limits)", c.SessionTimeout))
	ch.Require(c.FetchMaxBytes >= 64<<10 && c.FetchMaxBytes <= 64<<20, "fetch_max_bytes",
		fmt.Sprintf("%d must be between 64 KiB and 64 MiB", c.FetchMaxBytes))
	ch.Require(c.FetchMaxWait >= 10*time.Millisecond && c.FetchMaxWait <= 10*time.Second, "fetch_max_wait",
		fmt.Sprintf("%s must be between 10ms and 10s", c.FetchMaxWait))
	return ch.Err()
}

// Config is everything the pipeline needs: each part is validated by its
// owner, and the service composes them.
type Config struct {
	Topics    TopicsConfig
	Consumer  ConsumerConfig
	EventTime eventtime.Config
	// CheckpointInterval is how often each partition saves its state to
	// Redis while it has news (and refreshes its idle lease).
	CheckpointInterval time.Duration
	// CloseInterval is how often the closer looks for windows to close.
	CloseInterval time.Duration
	// Retention is how long closed windows stay readable in /stats.
	Retention time.Duration
	// InstanceID names this instance in Redis and logs.
	InstanceID string
}

// idleLease is how long an idle report stays valid without renewal: long
// enough to survive a few missed checkpoints, short enough that a dead
// owner's partition soon holds the watermark again.
func (c Config) idleLease() time.Duration {
	return max(3*c.CheckpointInterval, 3*time.Second)
}
