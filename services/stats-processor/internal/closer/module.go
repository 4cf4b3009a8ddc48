package closer

import (
	"log/slog"
	"time"

	"go.uber.org/fx"

	"github.com/vehicle-stats/vehicle-stats/services/stats-processor/internal/eventtime"
	"github.com/vehicle-stats/vehicle-stats/services/stats-processor/internal/metrics"
	"github.com/vehicle-stats/vehicle-stats/services/stats-processor/internal/topics"
)

// Module provides the *Closer, writing to an acks=all writer of the output
// topic that it closes on stop. It needs Options, the eventtime.Config, a
// Store, the *topics.Topics, the *metrics.Metrics and a *slog.Logger. It
// does not run the closer (the application starts it with the consumer).
var Module = fx.Module("closer",
	fx.Provide(provide),
)

func provide(lc fx.Lifecycle, opts Options, et eventtime.Config, store Store, t *topics.Topics, m *metrics.Metrics, log *slog.Logger) *Closer {
	w := t.Writer(t.Config().OutputTopic)
	// A close writes all its records in one call, and kafka-go puts every
	// record of a call to one partition into one batch whatever the
	// timeout: waiting for more would only delay the window's results.
	w.BatchTimeout = 50 * time.Microsecond
	lc.Append(fx.StopHook(w.Close))
	return New(et, store, t, w, m, log, opts)
}
