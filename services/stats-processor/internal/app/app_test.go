package app_test

import (
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"go.uber.org/fx"

	"github.com/vehicle-stats/vehicle-stats/internal/httpserver/httpservertest"
	"github.com/vehicle-stats/vehicle-stats/services/stats-processor/internal/app"
	"github.com/vehicle-stats/vehicle-stats/services/stats-processor/internal/closer"
	"github.com/vehicle-stats/vehicle-stats/services/stats-processor/internal/consumer"
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

// TestCheckpointReachesItsComponents: the checkpoint keys are the consumer's
// and the closer's own config, handed to them whole.
func TestCheckpointReachesItsComponents(t *testing.T) {
	cfg, err := app.Load([]string{"--checkpoint.close_interval=40ms"}, []string{"PROCESSOR_CHECKPOINT_INTERVAL=300ms"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var co consumer.Options
	var cl closer.Options
	a := app.New(cfg, "test", slog.New(slog.NewTextHandler(io.Discard, nil)), fx.Populate(&co, &cl))
	if err := a.Err(); err != nil {
		t.Fatal(err)
	}
	if co.Checkpoint != (consumer.CheckpointConfig{Interval: 300 * time.Millisecond}) || cl.Config != (closer.Config{Interval: 40 * time.Millisecond}) {
		t.Errorf("consumer %+v, closer %+v; want 300ms and 40ms", co.Checkpoint, cl.Config)
	}
}
