package sink

import (
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/vehicle-stats/vehicle-stats/internal/kafkasecurity"
	"github.com/vehicle-stats/vehicle-stats/internal/validate"
)

// Config is where and how records are sent.
type Config struct {
	// Connection is the brokers and the security of the connections to
	// them (kafka.brokers, kafka.tls.*, kafka.sasl.*).
	kafkasecurity.Connection `mapstructure:",squash"`
	// Topic receives one Vehicle per record.
	Topic string `mapstructure:"topic" usage:"topic the vehicles are written to"`
	// Partitions is the partition count used when the topic has to be
	// created; an existing topic is used as it is.
	Partitions int `mapstructure:"partitions" usage:"partitions of the topic when it is created"`
	// ReplicationFactor is used when the topic has to be created.
	ReplicationFactor int `mapstructure:"replication_factor" usage:"replication factor of the topic when it is created"`
	// Compression is none, gzip, snappy, lz4 or zstd.
	Compression string `mapstructure:"compression" usage:"compression codec: none, gzip, snappy, lz4 or zstd"`
	// BatchSize is the most records in one produce request to one partition.
	BatchSize int `mapstructure:"batch_size" usage:"most records per produce request (per partition)"`
	// BatchBytes is the most bytes in one produce request to one partition;
	// keep it at or below the broker's message.max.bytes (1 MiB by default).
	BatchBytes int64 `mapstructure:"batch_bytes" usage:"most bytes per produce request (per partition)"`
	// BatchTimeout is how long a partial batch waits for more records. Keep
	// it small: at a slow rate every record waits this long before it is
	// sent (kafka-go's own default, 1 s, makes a slow stream look stuck).
	BatchTimeout time.Duration `mapstructure:"batch_timeout" usage:"how long a partial batch waits for more records"`
	// MaxInFlight bounds the records handed to Kafka and not yet
	// acknowledged; when it is reached the producer waits.
	MaxInFlight int `mapstructure:"max_in_flight" usage:"most records sent and not yet acknowledged"`
	// RetryBackoffMin is the first wait before a failed send is retried.
	RetryBackoffMin time.Duration `mapstructure:"retry_backoff_min" usage:"first wait before a failed send is retried"`
	// RetryBackoffMax caps the doubling wait between retries.
	RetryBackoffMax time.Duration `mapstructure:"retry_backoff_max" usage:"longest wait between retries"`
	// WriteTimeout bounds one produce request.
	WriteTimeout time.Duration `mapstructure:"write_timeout" usage:"time limit of one produce request"`
	// StartupTimeout is how long start-up waits for Kafka to answer and the
	// topic to exist.
	StartupTimeout time.Duration `mapstructure:"startup_timeout" usage:"how long start-up waits for Kafka and the topic"`
	// FlushTimeout is how long stopping waits for in-flight records to be
	// acknowledged.
	FlushTimeout time.Duration `mapstructure:"flush_timeout" usage:"how long stopping waits for unacknowledged records"`
}

// Security is the TLS and SASL part of the configuration.
func (c Config) Security() kafkasecurity.Config {
	return c.Connection.Config
}

// DefaultConfig is tuned for a single local broker: requests of up to 2,000
// records (about 320 KB; kafka-go allocates room for batch_size records per
// request, so a larger count mostly costs memory), a 5 ms linger, 100,000
// records in flight.
func DefaultConfig() Config {
	return Config{
		Connection:        kafkasecurity.DefaultConnection(),
		Topic:             "vehicle-topic",
		Partitions:        6,
		ReplicationFactor: 1,
		Compression:       "none",
		BatchSize:         2_000,
		BatchBytes:        1 << 20,
		BatchTimeout:      5 * time.Millisecond,
		MaxInFlight:       100_000,
		RetryBackoffMin:   100 * time.Millisecond,
		RetryBackoffMax:   5 * time.Second,
		WriteTimeout:      10 * time.Second,
		StartupTimeout:    30 * time.Second,
		FlushTimeout:      30 * time.Second,
	}
}

// codecs maps the Compression names to kafka-go's codecs.
var codecs = map[string]kafka.Compression{
	"none":   0,
	"gzip":   kafka.Gzip,
	"snappy": kafka.Snappy,
	"lz4":    kafka.Lz4,
	"zstd":   kafka.Zstd,
}

// Validate reports every bad setting under its key (brokers, topic, ...).
func (c Config) Validate() error {
	var ch validate.Check
	ch.Merge("", c.Connection.Validate())
	ch.Add("topic", validTopic(c.Topic))
	ch.Require(c.Partitions >= 1 && c.Partitions <= 10_000, "partitions", fmt.Sprintf("must be 1..10000, got %d", c.Partitions))
	ch.Require(c.ReplicationFactor >= 1 && c.ReplicationFactor <= 32, "replication_factor", fmt.Sprintf("must be 1..32, got %d", c.ReplicationFactor))
	_, ok := codecs[c.Compression]
	ch.Require(ok, "compression", fmt.Sprintf("%q is not one of none, gzip, snappy, lz4, zstd", c.Compression))
	ch.Require(c.BatchSize >= 1 && c.BatchSize <= 1_000_000, "batch_size", fmt.Sprintf("must be 1..1000000, got %d", c.BatchSize))
	ch.Require(c.BatchBytes >= 1<<10 && c.BatchBytes <= 1<<30, "batch_bytes", fmt.Sprintf("must be 1024..1073741824, got %d", c.BatchBytes))
	ch.Require(c.BatchTimeout >= time.Millisecond && c.BatchTimeout <= 10*time.Second, "batch_timeout", fmt.Sprintf("must be 1ms..10s, got %s", c.BatchTimeout))
	ch.Require(c.MaxInFlight >= 1 && c.MaxInFlight <= 10_000_000, "max_in_flight", fmt.Sprintf("must be 1..10000000, got %d", c.MaxInFlight))
	ch.Require(c.RetryBackoffMin >= time.Millisecond, "retry_backoff_min", fmt.Sprintf("must be at least 1ms, got %s", c.RetryBackoffMin))
	ch.Require(c.RetryBackoffMax >= c.RetryBackoffMin && c.RetryBackoffMax <= 10*time.Minute, "retry_backoff_max",
		fmt.Sprintf("must be between retry_backoff_min (%s) and 10m, got %s", c.RetryBackoffMin, c.RetryBackoffMax))
	ch.Require(c.WriteTimeout >= 100*time.Millisecond, "write_timeout", fmt.Sprintf("must be at least 100ms, got %s", c.WriteTimeout))
	ch.Require(c.StartupTimeout >= time.Second, "startup_timeout", fmt.Sprintf("must be at least 1s, got %s", c.StartupTimeout))
	ch.Require(c.FlushTimeout >= 0, "flush_timeout", fmt.Sprintf("must not be negative, got %s", c.FlushTimeout))
	return ch.Err()
}

// validTopic applies Kafka's rules for topic names.
func validTopic(t string) error {
	if t == "" {
		return fmt.Errorf("must not be empty")
	}
	if len(t) > 249 || t == "." || t == ".." {
		return fmt.Errorf("%q is not a valid Kafka topic name", t)
	}
	for _, c := range t {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("%q: only letters, digits, '.', '_' and '-' are allowed", t)
		}
	}
	return nil
}
