package api

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/vehicle-stats/vehicle-stats/internal/httpserver"
	"github.com/vehicle-stats/vehicle-stats/services/stats-processor/internal/eventtime"
	"github.com/vehicle-stats/vehicle-stats/services/stats-processor/internal/state"
)

// TestStatsBadParameterEchoIsCut: a bad value is named in the error, cut
// to httpserver.MaxQuoted characters and marked, however long it was.
func TestStatsBadParameterEchoIsCut(t *testing.T) {
	r := &memReader{meta: state.Meta{ClosedThrough: eventtime.NoWatermark, Watermark: eventtime.NoWatermark}}
	long := strings.Repeat("9", 5000)
	for _, param := range []string{"limit", "type", "from", "to"} {
		code, body := serve(t, r, "?"+param+"="+url.QueryEscape(long))
		var e struct{ Error string }
		if code != http.StatusBadRequest || json.Unmarshal([]byte(body), &e) != nil {
			t.Fatalf("%s: %d %.200s", param, code, body)
		}
		echo := `"` + strings.Repeat("9", httpserver.MaxQuoted-1) + `…"`
		if !strings.HasPrefix(e.Error, param+": "+echo+" ") || utf8.RuneCountInString(e.Error) > 200 {
			t.Errorf("%s: error %.200q, want the value cut to %d characters", param, e.Error, httpserver.MaxQuoted)
		}
	}
	// A short value is echoed whole.
	if _, body := serve(t, r, "?limit=ten"); !strings.Contains(body, `limit: \"ten\" must be`) {
		t.Errorf("limit=ten: %s", body)
	}
}

// TestStatsMethods: HEAD /stats answers as GET does, without the body; any
// other method gets 405 naming GET and HEAD.
func TestStatsMethods(t *testing.T) {
	r := &memReader{meta: state.Meta{ClosedThrough: eventtime.NoWatermark, Watermark: eventtime.NoWatermark}}
	e := httpserver.NewEngine(httpserver.Config{}, slog.New(slog.NewTextHandler(io.Discard, nil)), httpserver.NewRegistry(), httpserver.NewReadiness())
	NewHandler(r, 20*time.Second, func() int { return 6 }).Register(e)
	do := func(method, query string) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, httptest.NewRequest(method, "/stats"+query, nil))
		return rec
	}
	for _, q := range []string{"", "?limit=ten"} {
		get, head := do(http.MethodGet, q), do(http.MethodHead, q)
		if head.Code != get.Code || head.Body.Len() != 0 || head.Header().Get("Content-Length") != strconv.Itoa(get.Body.Len()) ||
			head.Header().Get("Content-Type") != get.Header().Get("Content-Type") {
			t.Errorf("HEAD /stats%s: %d %v %q; GET: %d %v, %d bytes", q, head.Code, head.Header(), head.Body, get.Code, get.Header(), get.Body.Len())
		}
	}
	for _, m := range []string{http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodOptions} {
		if rec := do(m, ""); rec.Code != http.StatusMethodNotAllowed || rec.Header().Get("Allow") != "GET, HEAD" {
			t.Errorf("%s /stats: %d Allow %q, want 405 Allow \"GET, HEAD\"", m, rec.Code, rec.Header().Get("Allow"))
		}
	}
}
