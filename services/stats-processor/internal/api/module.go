package api

import (
	"github.com/gin-gonic/gin"
	"go.uber.org/fx"

	"github.com/vehicle-stats/vehicle-stats/services/stats-processor/internal/eventtime"
)

// PartitionCounter reports the input topic's partition count, 0 until
// known.
type PartitionCounter interface {
	Partitions() int
}

// Module provides the /stats *Handler and registers GET /stats on the HTTP
// server's *gin.Engine. It needs a StatsReader, a PartitionCounter and the
// eventtime.Config.
var Module = fx.Module("api",
	fx.Provide(func(r StatsReader, p PartitionCounter, et eventtime.Config) *Handler {
		return NewHandler(r, et.Window.Size, p.Partitions)
	}),
	fx.Invoke(func(h *Handler, e *gin.Engine) { h.Register(e) }),
)
