package app_test

import (
	"io"
	"log/slog"
	"testing"

	"github.com/gin-gonic/gin"
	"go.uber.org/fx"

	"github.com/vehicle-stats/vehicle-stats/internal/httpserver/httpservertest"
	"github.com/vehicle-stats/vehicle-stats/services/vehicle-producer/internal/app"
)

// TestEveryRouteAnswersHeadAnd405: every GET route of the assembled
// service answers HEAD too, and a method a path lacks gets 405 with Allow
// (PUT /rate: also without the admin token).
func TestEveryRouteAnswersHeadAnd405(t *testing.T) {
	cfg := app.DefaultConfig()
	cfg.HTTP.AdminToken = "0123456789abcdef-admin"
	var e *gin.Engine
	a := app.New(cfg, "test", slog.New(slog.NewTextHandler(io.Discard, nil)), fx.Populate(&e))
	if err := a.Err(); err != nil {
		t.Fatal(err)
	}
	httpservertest.Methods(t, e, "/healthz", "/readyz", "/metrics", "/status", "/rate")
}
