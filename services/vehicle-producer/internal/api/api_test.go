package api_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/vehicle-stats/vehicle-stats/internal/httpserver"
	"github.com/vehicle-stats/vehicle-stats/services/vehicle-producer/internal/api"
	"github.com/vehicle-stats/vehicle-stats/services/vehicle-producer/internal/pacer"
)

// server wires the handlers to a real pacer, as the producer does.
func server(t *testing.T) (http.Handler, *pacer.Pacer) {
	t.Helper()
	p, err := pacer.New(0.5)
	if err != nil {
		t.Fatal(err)
	}
	h := &api.Handlers{
		Status: func(context.Context) api.Status {
			return api.Status{Service: "vehicle-producer", Rate: p.Rate(), Generated: 10, Sent: 9,
				SentByType: map[string]uint64{"CAR": 8, "TRUCK": 1}, Kafka: "ok",
				Started: time.Date(2026, 11, 21, 0, 0, 0, 0, time.UTC), Config: json.RawMessage(`{"rate":0.5}`)}
		},
		SetRate: func(r float64) (float64, error) { return p.SetRate(r, time.Now()) },
	}
	gin.SetMode(gin.ReleaseMode)
	e := gin.New()
	h.Register(e)
	return e, p
}

func do(h http.Handler, method, path, body string) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	h.ServeHTTP(rec, req)
	return rec
}

func TestPutRate(t *testing.T) {
	h, p := server(t)
	for _, tc := range []struct {
		body string
		want float64
		prev float64
	}{
		{`{"rate": 5}`, 5, 0.5},
		{`{"rate":0.25}`, 0.25, 5},
		{` {"rate": 0} `, 0, 0.25},
		{`{"rate": 1e3}`, 1000, 0},
	} {
		rec := do(h, http.MethodPut, "/rate", tc.body)
		if rec.Code != http.StatusOK {
			t.Fatalf("PUT /rate %s = %d %s", tc.body, rec.Code, rec.Body)
		}
		var resp api.RateResponse
		if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil {
			t.Fatal(err)
		}
		if resp.Rate != tc.want || resp.Previous != tc.prev || p.Rate() != tc.want {
			t.Errorf("PUT /rate %s: response %+v, pacer at %g; want rate %g previous %g", tc.body, resp, p.Rate(), tc.want, tc.prev)
		}
	}
}

func TestPutRateRejectsBadBodies(t *testing.T) {
	h, p := server(t)
	for _, tc := range []struct{ name, body, says string }{
		{"empty", ``, "empty body"},
		{"not JSON", `rate=5`, "not valid"},
		{"NaN literal", `{"rate": NaN}`, "not valid"},
		{"string", `{"rate": "5"}`, "not valid"},
		{"missing field", `{}`, `missing field "rate"`},
		{"null", `{"rate": null}`, `missing field "rate"`},
		{"unknown field", `{"rate": 5, "burst": 3}`, "unknown field"},
		{"negative", `{"rate": -1}`, "negative"},
		{"too large", `{"rate": 1e12}`, "too large"},
		{"beyond float64", `{"rate": 1e999}`, "not valid"},
		{"too small", `{"rate": 1e-9}`, "too small"},
		{"two objects", `{"rate": 5} {"rate": 6}`, "extra data"},
		{"array", `[5]`, "not valid"},
		{"huge body", `{"rate": 5, "x": "` + strings.Repeat("a", 4096) + `"}`, "larger than"},
	} {
		rec := do(h, http.MethodPut, "/rate", tc.body)
		var resp struct {
			Error string `json:"error"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil {
			t.Errorf("%s: body %q is not a JSON error: %v", tc.name, rec.Body, err)
			continue
		}
		if rec.Code != http.StatusBadRequest || !strings.Contains(resp.Error, tc.says) {
			t.Errorf("%s: %d %q, want 400 saying %q", tc.name, rec.Code, resp.Error, tc.says)
		}
		if p.Rate() != 0.5 {
			t.Fatalf("%s: the rate changed to %g", tc.name, p.Rate())
		}
	}
	if rec := do(h, http.MethodPost, "/rate", `{"rate": 5}`); rec.Code != http.StatusNotFound && rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST /rate = %d", rec.Code)
	}
}

func TestGetStatus(t *testing.T) {
	h, _ := server(t)
	rec := do(h, http.MethodGet, "/status", "")
	if rec.Code != http.StatusOK || !strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") {
		t.Fatalf("GET /status = %d %s", rec.Code, rec.Header().Get("Content-Type"))
	}
	var st map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &st); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"service", "version", "started", "uptime", "rate", "generated", "sent", "sentByType", "inFlight", "sendFailures", "kafka", "lastError", "config"} {
		if _, ok := st[k]; !ok {
			t.Errorf("/status has no %q: %s", k, rec.Body)
		}
	}
	if st["generated"] != 10.0 || st["config"].(map[string]any)["rate"] != 0.5 || st["lastError"] != nil {
		t.Errorf("/status = %s", rec.Body)
	}
}

// TestPutRateRefusesDuplicateKeys: encoding/json would take the last of
// two "rate" fields; PUT /rate refuses the body instead.
func TestPutRateRefusesDuplicateKeys(t *testing.T) {
	h, p := server(t)
	for _, body := range []string{`{"rate":1,"rate":100000}`, `{"rate": 1, "RATE": 2}`, `{"rate": null, "rate": 5}`} {
		rec := do(h, http.MethodPut, "/rate", body)
		if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), `field \"rate\" given more than once`) {
			t.Errorf("PUT /rate %s: %d %s, want 400 saying rate is given twice", body, rec.Code, rec.Body)
		}
		if p.Rate() != 0.5 {
			t.Fatalf("%s: the rate changed to %g", body, p.Rate())
		}
	}
	if rec := do(h, http.MethodPut, "/rate", `{"Rate": 2}`); rec.Code != http.StatusOK {
		t.Errorf(`{"Rate": 2}: %d %s; the name's case never mattered`, rec.Code, rec.Body)
	}
}

// TestPutRateEchoIsCut: a hostile field name or number literal is echoed
// cut to httpserver.MaxQuoted characters.
func TestPutRateEchoIsCut(t *testing.T) {
	h, _ := server(t)
	long := strings.Repeat("9", 500)
	for _, body := range []string{`{"` + long + `": 1}`, `{"rate": ` + long + `}`} {
		rec := do(h, http.MethodPut, "/rate", body)
		var resp struct{ Error string }
		if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil || rec.Code != http.StatusBadRequest {
			t.Fatalf("%.20s…: %d %s", body, rec.Code, rec.Body)
		}
		if !strings.Contains(resp.Error, `"`+long[:httpserver.MaxQuoted-1]+`…"`) || strings.Contains(resp.Error, long[:httpserver.MaxQuoted]) {
			t.Errorf("%.20s…: error %q, want the value cut to %d characters", body, resp.Error, httpserver.MaxQuoted)
		}
	}
}

// TestMethods, on the service's engine: HEAD /status answers as GET does
// without the body; a method a route lacks gets 405 with Allow.
func TestMethods(t *testing.T) {
	e := httpserver.NewEngine(httpserver.Config{}, slog.New(slog.NewTextHandler(io.Discard, nil)), httpserver.NewRegistry(), httpserver.NewReadiness())
	h := &api.Handlers{Status: func(context.Context) api.Status { return api.Status{Service: "vehicle-producer"} }}
	h.Register(e)
	get, head := do(e, http.MethodGet, "/status", ""), do(e, http.MethodHead, "/status", "")
	if head.Code != http.StatusOK || head.Body.Len() != 0 || head.Header().Get("Content-Length") != strconv.Itoa(get.Body.Len()) {
		t.Errorf("HEAD /status: %d %v %q; GET's body is %d bytes", head.Code, head.Header(), head.Body, get.Body.Len())
	}
	for _, tc := range []struct{ method, path, allow string }{
		{http.MethodGet, "/rate", "PUT"},
		{http.MethodPost, "/rate", "PUT"},
		{http.MethodPut, "/status", "GET, HEAD"},
		{http.MethodDelete, "/status", "GET, HEAD"},
	} {
		if rec := do(e, tc.method, tc.path, ""); rec.Code != http.StatusMethodNotAllowed || rec.Header().Get("Allow") != tc.allow {
			t.Errorf("%s %s: %d Allow %q, want 405 Allow %q", tc.method, tc.path, rec.Code, rec.Header().Get("Allow"), tc.allow)
		}
	}
}
