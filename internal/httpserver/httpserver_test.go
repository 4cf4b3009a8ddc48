package httpserver_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/vehicle-stats/vehicle-stats/internal/httpserver"
)

func TestEndpoints(t *testing.T) {
	ready := httpserver.NewReadiness()
	e := httpserver.NewEngine(httpserver.Config{}, slog.New(slog.NewTextHandler(io.Discard, nil)), httpserver.NewRegistry(), ready)

	get := func(path string) (int, string) {
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		return rec.Code, rec.Body.String()
	}
	if code, _ := get("/healthz"); code != 200 {
		t.Errorf("/healthz = %d", code)
	}
	if code, _ := get("/readyz"); code != 200 {
		t.Errorf("/readyz with no checks = %d", code)
	}
	ready.Add("kafka", func(context.Context) error { return errors.New("dial tcp: connection refused") })
	ready.Add("redis", func(context.Context) error { return nil })
	code, body := get("/readyz")
	if code != http.StatusServiceUnavailable {
		t.Errorf("/readyz with a failing check = %d", code)
	}
	var resp struct {
		Failing map[string]string `json:"failing"`
	}
	if err := json.Unmarshal([]byte(body), &resp); err != nil {
		t.Fatal(err)
	}
	if len(resp.Failing) != 1 || !strings.Contains(resp.Failing["kafka"], "refused") {
		t.Errorf("failing = %v", resp.Failing)
	}
	if code, body := get("/metrics"); code != 200 || !strings.Contains(body, "go_goroutines") {
		t.Errorf("/metrics = %d, %.100s", code, body)
	}
}

func TestListenRejectsTakenAddress(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	s, err := httpserver.Listen(httpserver.Config{Addr: "127.0.0.1:0"}, http.NotFoundHandler(), log)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown(context.Background())
	if _, err := httpserver.Listen(httpserver.Config{Addr: s.Addr()}, http.NotFoundHandler(), log); err == nil || !strings.Contains(err.Error(), "http.addr") {
		t.Errorf("second listen on %s: %v", s.Addr(), err)
	}
	if err := (httpserver.Config{Addr: "nonsense"}).Validate(); err == nil {
		t.Error("Validate accepted a bad address")
	}
}
