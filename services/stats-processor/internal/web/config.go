package web

import (
	"fmt"
	"time"

	"github.com/vehicle-stats/vehicle-stats/internal/validate"
)

// Config is the live stream's limits (the live.* keys): what one host, and
// all of them together, may hold open.
type Config struct {
	// MaxStreams bounds the open streams of this instance; one more gets
	// 503. Each costs a goroutine and a connection, not a Redis read.
	MaxStreams int `mapstructure:"max_streams" usage:"open live streams at most, over all clients (503 beyond)"`
	// MaxStreamsPerClient bounds the open streams of one remote address
	// (an IPv6 client by its /64), so that one host cannot take every
	// slot; one more gets 429. Behind a reverse proxy every stream comes
	// from the proxy's address: raise it to max_streams there.
	MaxStreamsPerClient int `mapstructure:"max_streams_per_client" usage:"open live streams at most from one client IP address (429 beyond)"`
	// MaxStreamLifetime is how long a stream stays open (less up to a
	// tenth, so streams opened together do not end together); then the
	// server ends it and the browser's EventSource reconnects after the
	// stream's retry hint, taking a slot again like any other client.
	MaxStreamLifetime time.Duration `mapstructure:"max_stream_lifetime" usage:"how long a live stream stays open before the browser is made to reconnect"`
}

// DefaultConfig allows 100 streams, 10 per client, each for 10 minutes.
func DefaultConfig() Config {
	return Config{MaxStreams: DefaultMaxClients, MaxStreamsPerClient: DefaultMaxPerClient, MaxStreamLifetime: DefaultMaxLifetime}
}

// Validate reports every problem, keyed by field.
func (c Config) Validate() error {
	var ch validate.Check
	ch.Require(c.MaxStreams >= 1, "max_streams", fmt.Sprintf("must be at least 1, got %d", c.MaxStreams))
	ch.Require(c.MaxStreamsPerClient >= 1 && c.MaxStreamsPerClient <= max(c.MaxStreams, 1), "max_streams_per_client",
		fmt.Sprintf("must be from 1 to max_streams (%d), got %d", c.MaxStreams, c.MaxStreamsPerClient))
	ch.Require(c.MaxStreamLifetime >= 10*time.Second && c.MaxStreamLifetime <= 24*time.Hour, "max_stream_lifetime",
		fmt.Sprintf("%s must be between 10s and 24h", c.MaxStreamLifetime))
	return ch.Err()
}

// Options are the stream options of c.
func (c Config) Options() Options {
	return Options{MaxClients: c.MaxStreams, MaxPerClient: c.MaxStreamsPerClient, MaxLifetime: c.MaxStreamLifetime}
}
