package app_test

import (
	"io"
	"log/slog"
	"testing"

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
