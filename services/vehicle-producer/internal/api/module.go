package api

import (
	"github.com/gin-gonic/gin"
	"go.uber.org/fx"
)

// Module adds the routes of the *Handlers in the graph to the shared
// *gin.Engine.
var Module = fx.Module("api",
	fx.Invoke(func(e *gin.Engine, h *Handlers) { h.Register(e) }),
)
