package app

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/vehicle-stats/vehicle-stats/internal/config"
	"github.com/vehicle-stats/vehicle-stats/internal/httpserver"
	"github.com/vehicle-stats/vehicle-stats/internal/logging"
	"github.com/vehicle-stats/vehicle-stats/internal/validate"
	"github.com/vehicle-stats/vehicle-stats/services/vehicle-producer/internal/generator"
	"github.com/vehicle-stats/vehicle-stats/services/vehicle-producer/internal/pacer"
	"github.com/vehicle-stats/vehicle-stats/services/vehicle-producer/internal/sink"
)

// Service is the program name, in logs, metrics and messages.
const Service = "vehicle-producer"

// EnvPrefix starts every environment variable of the producer.
const EnvPrefix = "PRODUCER_"

// DefaultFile is the YAML file read when --config is not given, if it
// exists (relative to the working directory).
const DefaultFile = "configs/vehicle-producer.yaml"

// Config is the producer's whole configuration. Keys are the mapstructure
// tags, nested with "."; configs/vehicle-producer.yaml lists them all.
type Config struct {
	// Kafka is the destination and how to write to it.
	Kafka sink.Config `mapstructure:"kafka"`
	// Rate is the target in events per second; 0 = as fast as possible.
	Rate float64 `mapstructure:"rate" usage:"events per second, fractions allowed (0 = as fast as possible)"`
	// Count is how many events to send before exiting; 0 = until stopped.
	Count int64 `mapstructure:"count" usage:"send this many events, flush, exit 0 (0 = run until stopped)"`
	// Seed fixes the event sequence; 0 picks a random seed (logged, and
	// shown by /status, so the run can be repeated).
	Seed uint64 `mapstructure:"seed" usage:"0 = random; any other value makes the event sequence reproducible"`
	// Generator shapes the events.
	Generator generator.Config `mapstructure:"generator"`
	// HTTP is the listener of /healthz, /readyz, /metrics, /status, /rate,
	// its limits and admin token (and the profiler's own listener with
	// http.pprof).
	HTTP httpserver.Config `mapstructure:"http"`
	// Log is the level and format of the logs on stderr.
	Log logging.Config `mapstructure:"log"`
}

// DefaultConfig returns the contract's defaults and the producer's own.
func DefaultConfig() Config {
	return Config{
		Kafka:     sink.DefaultConfig(),
		Rate:      0.5,
		Generator: generator.DefaultConfig(),
		HTTP:      httpserver.DefaultConfig(":9090", "127.0.0.1:9091"),
		Log:       logging.DefaultConfig(),
	}
}

// Validate reports every bad key.
func (c Config) Validate() error {
	var ch validate.Check
	ch.Merge("kafka", c.Kafka.Validate())
	ch.Add("rate", pacer.ValidateRate(c.Rate))
	ch.Require(c.Count >= 0, "count", fmt.Sprintf("must not be negative, got %d", c.Count))
	ch.Merge("generator", c.Generator.Validate())
	ch.Merge("http", c.HTTP.Validate())
	// The shared package's message starts with the field name; the key
	// says it already.
	if err := (logging.Config{Level: c.Log.Level, Format: "json"}).Validate(); err != nil {
		ch.Require(false, "log.level", strings.TrimPrefix(err.Error(), "level: "))
	}
	ch.Require(c.Log.Format == "json" || c.Log.Format == "text", "log.format", fmt.Sprintf("%q is neither json nor text", c.Log.Format))
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

var service = config.Service{Name: Service, EnvPrefix: EnvPrefix, DefaultFile: DefaultFile}

// Warn logs, at every start, what cfg and environ (as os.Environ) set that
// works but must not go unnoticed: a PRODUCER_ variable that sets no key (a
// typo leaves its key at the default), Kafka certificates not verified, a
// Kafka password sent in clear text, and PUT /rate open to the network
// (no http.admin_token on an http.addr beyond loopback).
func Warn(log *slog.Logger, cfg Config, environ []string) {
	service.WarnUnknownEnv(log, &cfg, environ)
	cfg.Kafka.Security().Warn(log)
	if cfg.HTTP.AdminToken == "" && !loopback(cfg.HTTP.Addr) {
		log.Warn("http.admin_token is not set and http.addr is not loopback: anyone who reaches it can change the rate "+
			"with PUT /rate; set http.admin_token (PRODUCER_HTTP_ADMIN_TOKEN_FILE) or listen on 127.0.0.1",
			"key", "http.admin_token", "addr", cfg.HTTP.Addr)
	}
}

// loopback says addr listens on the loopback interface only: an empty host
// (":9090") is every interface.
func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// startTimeout and stopTimeout give fx's lifecycle room for the sink's own
// limits, which are the ones that matter.
func (c Config) startTimeout() time.Duration { return c.Kafka.StartupTimeout + 10*time.Second }
func (c Config) stopTimeout() time.Duration  { return c.Kafka.FlushTimeout + 15*time.Second }
