package api_test

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/vehicle-stats/vehicle-stats/services/vehicle-producer/internal/api"
)

// Every rate change is logged with the address of the client that made it,
// the peer's and not a header any client can write; a refused one changes
// nothing and logs nothing.
func TestRateChangeLogsTheClient(t *testing.T) {
	var buf bytes.Buffer
	rate := 0.5
	h := &api.Handlers{
		SetRate: func(r float64) (float64, error) { prev := rate; rate = r; return prev, nil },
		Log:     slog.New(slog.NewTextHandler(&buf, nil)),
	}
	gin.SetMode(gin.ReleaseMode)
	e := gin.New()
	h.Register(e)
	put := func(body string) int {
		req := httptest.NewRequest(http.MethodPut, "/rate", strings.NewReader(body))
		req.RemoteAddr = "203.0.113.7:41000"
		req.Header.Set("X-Forwarded-For", "198.51.100.1")
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, req)
		return rec.Code
	}
	if code := put(`{"rate": 5}`); code != http.StatusOK {
		t.Fatalf("PUT /rate = %d", code)
	}
	line := buf.String()
	for _, want := range []string{`msg="rate changed"`, "rate=5", "previous=0.5", "client=203.0.113.7:41000"} {
		if !strings.Contains(line, want) {
			t.Errorf("the log lacks %s: %s", want, line)
		}
	}
	if strings.Contains(line, "198.51.100.1") {
		t.Errorf("the log trusts X-Forwarded-For: %s", line)
	}
	buf.Reset()
	if code := put(`{"rate": "fast"}`); code != http.StatusBadRequest || buf.Len() != 0 {
		t.Errorf("a refused change: %d, logged %q", code, buf.String())
	}
}
