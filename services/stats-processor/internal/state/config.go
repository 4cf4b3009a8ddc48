package state

import (
	"crypto/tls"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/vehicle-stats/vehicle-stats/internal/config"
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
	var ch config.Check
	ch.Require(c.Retention >= time.Minute, "retention", fmt.Sprintf("%s must be at least 1m", c.Retention))
	return ch.Err()
}

// RedisConfig is the Redis connection and the key prefix of one pipeline.
type RedisConfig struct {
	Addr      string `mapstructure:"addr" usage:"Redis host:port (with redis.cluster: seed nodes, comma-separated)"`
	Cluster   bool   `mapstructure:"cluster" usage:"Redis is a Redis Cluster"`
	KeyPrefix string `mapstructure:"key_prefix" usage:"prefix of every key; separates pipelines sharing one Redis"`
	Username  string `mapstructure:"username" usage:"Redis ACL user name (optional)"`
	Password  string `mapstructure:"password" usage:"Redis password (optional; prefer the environment variable)"`
	DB        int    `mapstructure:"db" usage:"Redis database number"`
	TLS       bool   `mapstructure:"tls" usage:"connect to Redis over TLS"`
}

// DefaultRedisConfig returns the contract's defaults.
func DefaultRedisConfig() RedisConfig { return RedisConfig{Addr: "localhost:6379", KeyPrefix: "vs"} }

// Validate reports every problem, keyed by field (addr, key_prefix, db).
func (c RedisConfig) Validate() error {
	var ch config.Check
	ch.Require(c.Addr != "", "addr", "must be host:port")
	ch.Require(c.KeyPrefix != "" && !strings.ContainsAny(c.KeyPrefix, "{} "), "key_prefix", "must be non-empty, without spaces or braces")
	ch.Require(c.DB >= 0, "db", "must be 0 or more")
	ch.Require(!c.Cluster || c.DB == 0, "db", "must be 0 when cluster is true (a cluster has only database 0)")
	return ch.Err()
}

// NewClient returns a client for cfg: a cluster client with Cluster, a
// single-server client otherwise. It does not connect yet.
func NewClient(cfg RedisConfig) redis.UniversalClient {
	var tlsCfg *tls.Config
	if cfg.TLS {
		tlsCfg = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	if cfg.Cluster {
		return redis.NewClusterClient(&redis.ClusterOptions{
			Addrs: strings.Split(cfg.Addr, ","), Username: cfg.Username, Password: cfg.Password,
			DialTimeout: 5 * time.Second, ReadTimeout: 3 * time.Second, WriteTimeout: 3 * time.Second, TLSConfig: tlsCfg,
		})
	}
	return redis.NewClient(&redis.Options{
		Addr: cfg.Addr, Username: cfg.Username, Password: cfg.Password, DB: cfg.DB,
		DialTimeout: 5 * time.Second, ReadTimeout: 3 * time.Second, WriteTimeout: 3 * time.Second, TLSConfig: tlsCfg,
	})
}
