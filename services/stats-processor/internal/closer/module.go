package closer

import (
	"log/slog"
	"time"

	"go.uber.org/fx"

	"github.com/vehicle-stats/vehicle-stats/internal/httpserver"
	"github.com/vehicle-stats/vehicle-stats/services/stats-processor/internal/eventtime"
	"github.com/vehicle-stats/vehicle-stats/services/stats-processor/internal/metrics"
	"github.com/vehicle-stats/vehicle-stats/services/stats-processor/internal/topics"
)

// Module provides the *Closer, writing to an acks=all writer of the output
// topic that it closes on stop. It needs Options, the eventtime.Config, a
// Store, the *topics.Topics, the *metrics.Metrics, a *slog.Logger and the
// HTTP server's *httpserver.Readiness ("closer": windows due and none
// closed for a while). It
// does not run the closer (the application starts it with the consumer).
var Module = fx.Module("closer",
	fx.Provide(provide),
)

func provide(lc fx.Lifecycle, opts Options, et eventtime.Config, store Store, t *topics.Topics, m *metrics.Metrics, log *slog.Logger, ready *httpserver.Readiness) *Closer {
	w := t.Writer(t.Config().OutputTopic)
	// A close writes all its records in one call, and kafka-go puts every
	// record of a call to one partition into one batch whatever the
	// timeout: waiting for more would only delay the window's results.
	w.BatchTimeout = 50 * time.Microsecond
	// Every write lands or fails within WriteBound of its start (no
	// attempt outlives its timeout): a new lease holder waits that long
	// past the lease before it reads the output back.
	w.WriteTimeout, w.MaxAttempts, w.WriteBackoffMin, w.WriteBackoffMax = 2*time.Second, 3, 100*time.Millisecond, 250*time.Millisecond
	if opts.WriteBound <= 0 {
		opts.WriteBound = time.Duration(w.MaxAttempts)*w.WriteTimeout + time.Duration(w.MaxAttempts-1)*w.WriteBackoffMax
	}
	lc.Append(fx.StopHook(w.Close))
	c := New(et, store, t, w, m, log, opts)
	ready.Add("closer", c.Check)
	return c
}
