package main

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/vehicle-stats/vehicle-stats/internal/config"
	"github.com/vehicle-stats/vehicle-stats/internal/httpserver"
	"github.com/vehicle-stats/vehicle-stats/internal/kafkasecurity"
	"github.com/vehicle-stats/vehicle-stats/internal/logging"
	"github.com/vehicle-stats/vehicle-stats/internal/redisconn"
	"github.com/vehicle-stats/vehicle-stats/services/stats-processor/internal/eventtime"
	"github.com/vehicle-stats/vehicle-stats/services/stats-processor/internal/pipeline"
)

// EnvPrefix starts every environment variable of this service.
const EnvPrefix = "PROCESSOR_"

// Config is the service's configuration; keys are in shared/CONTRACT.md,
// and the extra tuning keys in configs/stats-processor.yaml.
type Config struct {
	Kafka      KafkaConfig       `mapstructure:"kafka"`
	Redis      RedisConfig       `mapstructure:"redis"`
	Window     WindowConfig      `mapstructure:"window"`
	Watermark  WatermarkConfig   `mapstructure:"watermark"`
	Checkpoint CheckpointConfig  `mapstructure:"checkpoint"`
	State      StateConfig       `mapstructure:"state"`
	HTTP       httpserver.Config `mapstructure:"http"`
	Log        logging.Config    `mapstructure:"log"`
	// InstanceID names this instance in Redis and logs; host-pid when empty.
	InstanceID string `mapstructure:"instance_id" usage:"name of this instance (default host-pid)"`
}

// KafkaConfig is the Kafka side.
type KafkaConfig struct {
	Brokers           []string      `mapstructure:"brokers" usage:"Kafka bootstrap brokers, comma-separated"`
	InputTopic        string        `mapstructure:"input_topic" usage:"topic of Vehicle records"`
	OutputTopic       string        `mapstructure:"output_topic" usage:"topic for VehicleStatistics records"`
	DeadLetterTopic   string        `mapstructure:"dead_letter_topic" usage:"topic for records that do not decode or validate"`
	LateTopic         string        `mapstructure:"late_topic" usage:"topic for late events; empty: off"`
	GroupID           string        `mapstructure:"group_id" usage:"consumer group shared by all instances"`
	StartOffset       string        `mapstructure:"start_offset" usage:"where a partition with no saved state starts: latest or earliest"`
	InputPartitions   int           `mapstructure:"input_partitions" usage:"partitions of the input topic if this service creates it"`
	OutputPartitions  int           `mapstructure:"output_partitions" usage:"partitions of the output, dead-letter and late topics if this service creates them"`
	ReplicationFactor int           `mapstructure:"replication_factor" usage:"replication factor of topics this service creates"`
	SessionTimeout    time.Duration `mapstructure:"session_timeout" usage:"consumer group session timeout: how soon a dead instance's partitions move"`
	FetchMaxBytes     int           `mapstructure:"fetch_max_bytes" usage:"largest fetch of one partition, in bytes"`
	FetchMaxWait      time.Duration `mapstructure:"fetch_max_wait" usage:"how long the broker may hold a fetch for new data"`
	// TLS and SASL secure the connections to the brokers (kafka.tls.*,
	// kafka.sasl.*).
	TLS  kafkasecurity.TLSConfig  `mapstructure:"tls"`
	SASL kafkasecurity.SASLConfig `mapstructure:"sasl"`
}

// Security is the TLS and SASL part of the Kafka configuration.
func (k KafkaConfig) Security() kafkasecurity.Config {
	return kafkasecurity.Config{TLS: k.TLS, SASL: k.SASL}
}

// RedisConfig is the Redis side: the connection (redis.addr, redis.tls.*,
// ... from package redisconn) and the key prefix.
type RedisConfig struct {
	redisconn.Config `mapstructure:",squash"`
	KeyPrefix        string `mapstructure:"key_prefix" usage:"prefix of every key; separates pipelines sharing one Redis"`
}

// WindowConfig is the tumbling window.
type WindowConfig struct {
	Size time.Duration `mapstructure:"size" usage:"tumbling window size"`
}

// WatermarkConfig is the watermark.
type WatermarkConfig struct {
	MaxOutOfOrderness time.Duration `mapstructure:"max_out_of_orderness" usage:"how far behind the largest event time an event may be and still count"`
	IdleTimeout       time.Duration `mapstructure:"idle_timeout" usage:"how long a caught-up partition without events holds the watermark back"`
	MaxFuture         time.Duration `mapstructure:"max_future" usage:"an event more than this ahead of its Kafka record's timestamp is a bad record (dead letter); 0 = off"`
}

// CheckpointConfig is how often state is saved and windows closed.
type CheckpointConfig struct {
	Interval      time.Duration `mapstructure:"interval" usage:"how often each partition saves its state to Redis"`
	CloseInterval time.Duration `mapstructure:"close_interval" usage:"how often the closer looks for windows to close"`
}

// StateConfig is what is kept.
type StateConfig struct {
	Retention time.Duration `mapstructure:"retention" usage:"how long closed windows stay readable in /stats"`
}

// DefaultConfig returns the contract's defaults.
func DefaultConfig() Config {
	p := pipeline.DefaultConfig()
	return Config{
		Kafka: KafkaConfig{
			Brokers: p.Brokers, InputTopic: p.InputTopic, OutputTopic: p.OutputTopic, DeadLetterTopic: p.DeadLetterTopic,
			LateTopic: p.LateTopic, GroupID: p.GroupID, StartOffset: p.StartOffset, InputPartitions: p.InputPartitions,
			OutputPartitions: p.OutputPartitions, ReplicationFactor: p.ReplicationFactor, SessionTimeout: p.SessionTimeout,
			FetchMaxBytes: p.FetchMaxBytes, FetchMaxWait: p.FetchMaxWait,
			TLS: kafkasecurity.DefaultConfig().TLS, SASL: kafkasecurity.DefaultConfig().SASL,
		},
		Redis:  RedisConfig{Config: redisconn.Config{Addr: "localhost:6379"}, KeyPrefix: "vs"},
		Window: WindowConfig{Size: p.EventTime.WindowSize},
		Watermark: WatermarkConfig{MaxOutOfOrderness: p.EventTime.MaxOutOfOrderness, IdleTimeout: p.EventTime.IdleTimeout,
			MaxFuture: p.EventTime.MaxFuture},
		Checkpoint: CheckpointConfig{Interval: p.CheckpointInterval, CloseInterval: p.CloseInterval},
		State:      StateConfig{Retention: p.Retention},
		HTTP:       httpserver.DefaultConfig(":9080", "127.0.0.1:9081"),
		Log:        logging.DefaultConfig(),
	}
}

// Pipeline converts the configuration for package pipeline.
func (c Config) Pipeline() pipeline.Config {
	return pipeline.Config{
		Brokers: c.Kafka.Brokers, InputTopic: c.Kafka.InputTopic, OutputTopic: c.Kafka.OutputTopic,
		DeadLetterTopic: c.Kafka.DeadLetterTopic, LateTopic: c.Kafka.LateTopic, GroupID: c.Kafka.GroupID,
		StartOffset: c.Kafka.StartOffset, InputPartitions: c.Kafka.InputPartitions, OutputPartitions: c.Kafka.OutputPartitions,
		ReplicationFactor: c.Kafka.ReplicationFactor,
		EventTime: eventtime.Config{
			WindowSize: c.Window.Size, MaxOutOfOrderness: c.Watermark.MaxOutOfOrderness, IdleTimeout: c.Watermark.IdleTimeout,
			MaxFuture: c.Watermark.MaxFuture,
		},
		CheckpointInterval: c.Checkpoint.Interval, CloseInterval: c.Checkpoint.CloseInterval, Retention: c.State.Retention,
		SessionTimeout: c.Kafka.SessionTimeout, FetchMaxBytes: c.Kafka.FetchMaxBytes, FetchMaxWait: c.Kafka.FetchMaxWait,
		InstanceID: c.InstanceID,
	}
}

// Validate reports every bad key.
func (c *Config) Validate() error {
	var chk config.Check
	chk.Merge("", c.Pipeline().Validate())
	chk.Merge("kafka", c.Kafka.Security().Validate())
	chk.Merge("redis", c.Redis.Config.Validate())
	chk.Require(c.Redis.KeyPrefix != "" && !strings.ContainsAny(c.Redis.KeyPrefix, "{} "), "redis.key_prefix", "must be non-empty, without spaces or braces")
	chk.Merge("http", c.HTTP.Validate())
	chk.Merge("log", c.Log.Validate())
	return chk.Err()
}

// LoadConfig reads the configuration from the defaults, the YAML file, the
// environment and the command line.
func LoadConfig(args, environ []string) (Config, error) {
	cfg := DefaultConfig()
	err := config.Load(&cfg, config.Options{
		Service: "stats-processor", EnvPrefix: EnvPrefix, Args: args, Environ: environ,
		DefaultFile: "configs/stats-processor.yaml",
	})
	if err != nil {
		return cfg, err
	}
	if cfg.InstanceID == "" {
		host, _ := os.Hostname()
		cfg.InstanceID = fmt.Sprintf("%s-%d", host, os.Getpid())
	}
	return cfg, nil
}

var errHelp = config.ErrHelp

func isHelp(err error) bool { return errors.Is(err, errHelp) }
