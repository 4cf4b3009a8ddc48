package topics

import (
	"time"

	"go.uber.org/fx"

	"github.com/vehicle-stats/vehicle-stats/internal/httpserver"
)

// Module provides the *Topics and adds the "kafka" check to /readyz. It
// needs a Config and the HTTP server's *httpserver.Readiness. It does not
// connect at start (the application waits for Kafka itself, naming the
// keys).
var Module = fx.Module("topics",
	fx.Provide(provide),
)

func provide(lc fx.Lifecycle, cfg Config, ready *httpserver.Readiness) (*Topics, error) {
	sec := cfg.Security()
	dialer, err := sec.Dialer("stats-processor", 10*time.Second)
	if err != nil {
		return nil, err
	}
	transport, err := sec.Transport("stats-processor", 10*time.Second)
	if err != nil {
		return nil, err
	}
	t := New(cfg, dialer, transport)
	lc.Append(fx.StopHook(t.Close))
	ready.Add("kafka", t.Ping)
	return t, nil
}
