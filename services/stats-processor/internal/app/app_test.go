package app_test

import (
	"io"
	"log/slog"
	"testing"

	"github.com/gin-gonic/gin"
	"go.uber.org/fx"

	"github.com/vehicle-stats/vehicle-stats/internal/httpserver/httpservertest"
	"github.com/vehicle-stats/vehicle-stats/services/stats-processor/internal/app"
)

// TestNewWiresEveryComponent builds the whole graph, as main does: every
// component's needs are provided, and nothing connects before start.
func TestNewWiresEveryComponent(t *testing.T) {
	a := app.New(app.DefaultConfig(), "test", slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err := a.Err(); err != nil {
		t.Fatal(err)
	}
}

// TestEveryRouteAnswersHeadAnd405: every GET route of the assembled
// service answers HEAD too, and a method a path lacks gets 405 with Allow.
func TestEveryRouteAnswersHeadAnd405(t *testing.T) {
	var e *gin.Engine
	a := app.New(app.DefaultConfig(), "test", slog.New(slog.NewTextHandler(io.Discard, nil)), fx.Populate(&e))
	if err := a.Err(); err != nil {
		t.Fatal(err)
	}
	httpservertest.Methods(t, e, "/healthz", "/readyz", "/metrics", "/stats", "/", "/live/:file", "/stats/stream")
}
