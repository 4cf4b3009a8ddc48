package app

import (
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/vehicle-stats/vehicle-stats/internal/config"
	"github.com/vehicle-stats/vehicle-stats/internal/httpserver"
	"github.com/vehicle-stats/vehicle-stats/internal/logging"
	"github.com/vehicle-stats/vehicle-stats/internal/validate"
	"github.com/vehicle-stats/vehicle-stats/services/stats-processor/internal/closer"
	"github.com/vehicle-stats/vehicle-stats/services/stats-processor/internal/consumer"
	"github.com/vehicle-stats/vehicle-stats/services/stats-processor/internal/eventtime"
	"github.com/vehicle-stats/vehicle-stats/services/stats-processor/internal/state"
	"github.com/vehicle-stats/vehicle-stats/services/stats-processor/internal/topics"
	"github.com/vehicle-stats/vehicle-stats/services/stats-processor/internal/web"
)

// Service is the program name, in logs and messages.
const Service = "stats-processor"

// EnvPrefix starts every environment variable of the processor.
const EnvPrefix = "PROCESSOR_"

// DefaultFile is the YAML file read when --config is not given, if it
// exists (relative to the working directory).
const DefaultFile = "configs/stats-processor.yaml"

// Config is the service's configuration; every key is in docs/contract.md
// and commented in configs/stats-processor.yaml. Each part is
// its component's own config, validated by it with keys relative to it.
type Config struct {
	Kafka      KafkaConfig       `mapstructure:"kafka"`
	Redis      state.RedisConfig `mapstructure:"redis"`
	EventTime  eventtime.Config  `mapstructure:",squash"` // window.*, watermark.*
	Checkpoint CheckpointConfig  `mapstructure:"checkpoint"`
	State      state.Config      `mapstructure:"state"`
	HTTP       httpserver.Config `mapstructure:"http"` // but http.admin_token, http.max_body_bytes: see service
	Live       web.Config        `mapstructure:"live"`
	Log        logging.Config    `mapstructure:"log"`
	// InstanceID names this instance in Redis and logs; host-pid when empty.
	InstanceID string `mapstructure:"instance_id" usage:"name of this instance (default host-pid)"`
}

// KafkaConfig is the kafka section: the topics and the consumer.
type KafkaConfig struct {
	Topics   topics.Config   `mapstructure:",squash"`
	Consumer consumer.Config `mapstructure:",squash"`
}

// CheckpointConfig is the checkpoint section: how often the consumer saves
// state and how often the closer closes windows, each its component's own.
type CheckpointConfig struct {
	Consumer consumer.CheckpointConfig `mapstructure:",squash"` // checkpoint.interval
	Closer   closer.Config             `mapstructure:",squash"` // checkpoint.close_interval
}

// DefaultConfig returns the contract's defaults.
func DefaultConfig() Config {
	return Config{
		Kafka:      KafkaConfig{Topics: topics.DefaultConfig(), Consumer: consumer.DefaultConfig()},
		Redis:      state.DefaultRedisConfig(),
		EventTime:  eventtime.DefaultConfig(),
		Checkpoint: CheckpointConfig{Consumer: consumer.DefaultCheckpointConfig(), Closer: closer.DefaultConfig()},
		State:      state.DefaultConfig(),
		HTTP:       httpserver.DefaultConfig(":9080", "127.0.0.1:9081"),
		Live:       web.DefaultConfig(),
		Log:        logging.DefaultConfig(),
	}
}

// Validate reports every bad key.
func (c *Config) Validate() error {
	var ch validate.Check
	ch.Merge("kafka", c.Kafka.Topics.Validate())
	ch.Merge("kafka", c.Kafka.Consumer.Validate())
	ch.Merge("redis", c.Redis.Validate())
	ch.Merge("", c.EventTime.Validate())
	ch.Merge("checkpoint", c.Checkpoint.Consumer.Validate())
	ch.Merge("checkpoint", c.Checkpoint.Closer.Validate())
	ch.Merge("state", c.State.Validate())
	ch.Merge("http", c.HTTP.Validate())
	ch.Merge("live", c.Live.Validate())
	ch.Merge("log", c.Log.Validate())
	return ch.Err()
}

// Load builds the configuration from the defaults, the YAML file, the
// environment (environ, as os.Environ) and the command line (args, without
// the program name), in rising priority. --help is written to help
// (os.Stderr when nil) and returns config.ErrHelp.
func Load(args, environ []string, help io.Writer) (Config, error) {
	cfg := DefaultConfig()
	err := service.Load(&cfg, args, environ, help)
	return cfg, err
}

var service = config.Service{Name: Service, EnvPrefix: EnvPrefix, DefaultFile: DefaultFile,
	Commands: []config.Command{{Usage: "reset [--dry-run] [--yes] [flags]",
		Summary: "delete one pipeline's state (Redis keys, consumer group) so that it starts over; see " + Service + " reset --help"}},
	Refused: map[string]string{
		"http.admin_token": "the processor has no admin endpoints (nothing it serves changes anything), so it takes no admin token; " +
			"guard its port with the network, or put it behind a proxy",
		"http.max_body_bytes": "the processor has no endpoint that reads a request body (any body stays capped at 1 MiB), so it takes no body limit",
	},
}

// Warn logs, at every start, what cfg and environ (as os.Environ) set that
// works but must not go unnoticed: a PROCESSOR_ variable that sets no key
// (a typo leaves its key at the default), Kafka certificates not verified,
// a Kafka password sent in clear text.
func Warn(log *slog.Logger, cfg Config, environ []string) {
	service.WarnUnknownEnv(log, &cfg, environ)
	cfg.Kafka.Topics.Security().Warn(log)
}

// instanceID is the configured instance name, or host-pid.
func (c Config) instanceID() string {
	if c.InstanceID != "" {
		return c.InstanceID
	}
	host, _ := os.Hostname()
	return fmt.Sprintf("%s-%d", host, os.Getpid())
}
