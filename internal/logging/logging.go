// Package logging builds the services' structured logger: JSON lines on
// stderr through log/slog, one object per event, so logs can be read by
// people and shipped by machines alike.
package logging

import (
	"fmt"
	"io"
	"log/slog"

	"go.uber.org/fx"
	"go.uber.org/fx/fxevent"

	"github.com/vehicle-stats/vehicle-stats/internal/validate"
)

// Config says how much to log and in which format.
type Config struct {
	// Level is debug, info, warn or error.
	Level string `mapstructure:"level" usage:"log level: debug, info, warn or error"`
	// Format is json (one object per line) or text (key=value).
	Format string `mapstructure:"format" usage:"log format: json or text"`
}

// DefaultConfig logs info and above as JSON.
func DefaultConfig() Config { return Config{Level: "info", Format: "json"} }

// Validate reports an unknown level or format.
func (c Config) Validate() error {
	var ch validate.Check
	_, err := parseLevel(c.Level)
	ch.Add("level", err)
	ch.Require(c.Format == "json" || c.Format == "text", "format", fmt.Sprintf("%q is neither json nor text", c.Format))
	return ch.Err()
}

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return 0, fmt.Errorf("%q is not one of debug, info, warn, error", s)
	}
	return l, nil
}

// New returns a logger writing to w, tagged with the service name.
func New(cfg Config, w io.Writer, service string) *slog.Logger {
	level, err := parseLevel(cfg.Level)
	if err != nil {
		level = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler = slog.NewJSONHandler(w, opts)
	if cfg.Format == "text" {
		h = slog.NewTextHandler(w, opts)
	}
	return slog.New(h).With("service", service)
}

// FxLogger routes fx's own lifecycle events to the service logger at debug
// level, errors at error level.
func FxLogger(log *slog.Logger) fx.Option {
	return fx.WithLogger(func() fxevent.Logger {
		l := &fxevent.SlogLogger{Logger: log.With("component", "fx")}
		l.UseLogLevel(slog.LevelDebug)
		l.UseErrorLevel(slog.LevelError)
		return l
	})
}
