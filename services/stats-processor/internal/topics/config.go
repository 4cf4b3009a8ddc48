package topics

import (
	"fmt"

	"github.com/vehicle-stats/vehicle-stats/internal/kafkasecurity"
	"github.com/vehicle-stats/vehicle-stats/internal/validate"
)

// Config is the Kafka connection and the processor's topics: their names,
// and their layout when the processor creates them.
type Config struct {
	// Connection is the brokers and the security of the connections to
	// them (brokers, tls.*, sasl.*).
	kafkasecurity.Connection `mapstructure:",squash"`
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
}

// DefaultConfig returns the contract's defaults.
func DefaultConfig() Config {
	return Config{
		Connection:        kafkasecurity.DefaultConnection(),
		InputTopic:        "vehicle-topic",
		OutputTopic:       "vehicle-statistics-topic",
		DeadLetterTopic:   "vehicle-dead-letter-topic",
		InputPartitions:   6,
		OutputPartitions:  1,
		ReplicationFactor: 1,
	}
}

// Security is the TLS and SASL part.
func (c Config) Security() kafkasecurity.Config {
	return c.Connection.Config
}

// Validate reports every problem, keyed by field (brokers, input_topic, ...).
func (c Config) Validate() error {
	var ch validate.Check
	ch.Merge("", c.Connection.Validate())
	ch.Require(c.InputTopic != "", "input_topic", "must not be empty")
	ch.Require(c.OutputTopic != "", "output_topic", "must not be empty")
	ch.Require(c.DeadLetterTopic != "", "dead_letter_topic", "must not be empty")
	ch.Require(c.InputTopic != c.OutputTopic && c.InputTopic != c.DeadLetterTopic && c.InputTopic != c.LateTopic,
		"input_topic", fmt.Sprintf("%q is also an output topic", c.InputTopic))
	ch.Require(c.InputPartitions > 0, "input_partitions", "must be at least 1")
	ch.Require(c.OutputPartitions > 0, "output_partitions", "must be at least 1")
	ch.Require(c.ReplicationFactor > 0, "replication_factor", "must be at least 1")
	return ch.Err()
}
