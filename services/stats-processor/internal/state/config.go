package state

import (
	"fmt"
	"strings"
	"time"

	"github.com/vehicle-stats/vehicle-stats/internal/redisconn"
	"github.com/vehicle-stats/vehicle-stats/internal/validate"
)

// Config is what the state keeps.
type Config struct {
	// Retention is how long closed windows stay readable in /stats.
	Retention time.Duration `mapstructure:"retention" usage:"how long closed windows stay readable in /stats"`
}

// DefaultConfig keeps closed windows for a day.
func DefaultConfig() Config { return Config{Retention: 24 * time.Hour} }

// Validate reports a retention below a minute, keyed "retention".
func (c Config) Validate() error {
	var ch validate.Check
	ch.Require(c.Retention >= time.Minute, "retention", fmt.Sprintf("%s must be at least 1m", c.Retention))
	return ch.Err()
}

// RedisConfig is the Redis connection (redis.addr, redis.cluster,
// redis.tls.*, ... from package redisconn) and the key prefix of one
// pipeline.
type RedisConfig struct {
	redisconn.Config `mapstructure:",squash"`
	KeyPrefix        string `mapstructure:"key_prefix" usage:"prefix of every key; separates pipelines sharing one Redis"`
}

// DefaultRedisConfig returns the contract's defaults.
func DefaultRedisConfig() RedisConfig {
	return RedisConfig{Config: redisconn.Config{Addr: "localhost:6379"}, KeyPrefix: "vs"}
}

// Validate reports every problem, keyed by field (addr, key_prefix, db,
// tls.*).
func (c RedisConfig) Validate() error {
	var ch validate.Check
	ch.Merge("", c.Config.Validate())
	ch.Require(c.KeyPrefix != "" && !strings.ContainsAny(c.KeyPrefix, "{} "), "key_prefix", "must be non-empty, without spaces or braces")
	return ch.Err()
}
