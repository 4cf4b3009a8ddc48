package api

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/vehicle-stats/vehicle-stats/pkg/model"
	"github.com/vehicle-stats/vehicle-stats/services/stats-processor/internal/eventtime"
	"github.com/vehicle-stats/vehicle-stats/services/stats-processor/internal/state"
)

// memReader is an in-memory StatsReader: the merge and filter logic here is
// pure, the Redis side is tested against real Redis in package state.
type memReader struct {
	meta   state.Meta
	closed []state.ClosedWindow // newest first
	open   []state.ClosedWindow
}

func (m *memReader) ReadMeta(context.Context) (state.Meta, error) { return m.meta, nil }
func (m *memReader) OpenWindows(context.Context, int, int64) ([]state.ClosedWindow, error) {
	return m.open, nil
}
func (m *memReader) ClosedWindows(_ context.Context, from, to int64, limit int) ([]state.ClosedWindow, error) {
	var out []state.ClosedWindow
	for _, w := range m.closed {
		if w.Start >= from && w.Start < to && len(out) < limit {
			out = append(out, w)
		}
	}
	return out, nil
}

func (m *memReader) MetaAndClosedWindows(ctx context.Context, from, to int64, limit int) (state.Meta, []state.ClosedWindow, error) {
	page, err := m.ClosedWindows(ctx, from, to, limit)
	return m.meta, page, err
}

func win(start int64, car, truck int64) state.ClosedWindow {
	var c eventtime.Counts
	c[model.Car.Index()], c[model.Truck.Index()] = car, truck
	return state.ClosedWindow{Start: start, Counts: c}
}

const t0 = int64(1_763_768_700_000) // 2025-11-21T23:45:00Z

func serve(t *testing.T, r StatsReader, query string) (int, string) {
	gin.SetMode(gin.TestMode)
	e := gin.New()
	NewHandler(r, 20*time.Second, func() int { return 6 }).Register(e)
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/stats"+query, nil))
	return rec.Code, rec.Body.String()
}

func TestStatsAnswer(t *testing.T) {
	r := &memReader{
		meta:   state.Meta{ClosedThrough: t0 + 20_000, Watermark: t0 + 39_999, Partitions: 6},
		closed: []state.ClosedWindow{win(t0, 40, 5), win(t0-20_000, 0, 3)},
		open:   []state.ClosedWindow{win(t0+20_000, 12, 2)},
	}
	code, body := serve(t, r, "")
	want := `{"windowSize":"20s","watermark":"2025-11-21T23:45:39.999Z","windows":[` +
		`{"start":"2025-11-21T23:45:20.000Z","end":"2025-11-21T23:45:40.000Z","closed":false,"counts":{"CAR":12,"TRUCK":2},"total":14},` +
		`{"start":"2025-11-21T23:45:00.000Z","end":"2025-11-21T23:45:20.000Z","closed":true,"counts":{"CAR":40,"TRUCK":5},"total":45},` +
		`{"start":"2025-11-21T23:44:40.000Z","end":"2025-11-21T23:45:00.000Z","closed":true,"counts":{"TRUCK":3},"total":3}]}`
	if code != 200 || body != want {
		t.Fatalf("%d\n got %s\nwant %s", code, body, want)
	}
	// type filter: windows without the type disappear; counts keep only it.
	_, body = serve(t, r, "?type=CAR&limit=2")
	var st struct {
		Windows []struct {
			Counts map[string]int64
			Total  int64
		}
	}
	if err := json.Unmarshal([]byte(body), &st); err != nil {
		t.Fatal(err)
	}
	if len(st.Windows) != 2 || st.Windows[0].Total != 12 || st.Windows[1].Total != 40 || len(st.Windows[1].Counts) != 1 {
		t.Errorf("type=CAR: %s", body)
	}
	// from/to select window starts in [from, to).
	_, body = serve(t, r, "?from=2025-11-21T23:45:00Z&to=2025-11-21T23:45:20Z")
	if strings.Count(body, `"start"`) != 1 || !strings.Contains(body, `"start":"2025-11-21T23:45:00.000Z"`) {
		t.Errorf("from/to: %s", body)
	}
	// No watermark yet: null.
	_, body = serve(t, &memReader{meta: state.Meta{ClosedThrough: eventtime.NoWatermark, Watermark: eventtime.NoWatermark}}, "")
	if body != `{"windowSize":"20s","watermark":null,"windows":[]}` {
		t.Errorf("empty: %s", body)
	}
}

func TestStatsBadParameters(t *testing.T) {
	r := &memReader{meta: state.Meta{ClosedThrough: eventtime.NoWatermark, Watermark: eventtime.NoWatermark}}
	for _, q := range []string{"?limit=0", "?limit=1001", "?limit=ten", "?type=BIKE", "?type=car", "?from=yesterday",
		"?to=2025-13-01T00:00:00Z", "?from=2025-11-21T23:45:20Z&to=2025-11-21T23:45:00Z"} {
		code, body := serve(t, r, q)
		var e struct{ Error string }
		if code != 400 || json.Unmarshal([]byte(body), &e) != nil || e.Error == "" {
			t.Errorf("%s: %d %s", q, code, body)
		}
		param := strings.TrimPrefix(strings.SplitN(q, "=", 2)[0], "?")
		if !strings.HasPrefix(e.Error, param+":") && !strings.HasPrefix(e.Error, "from:") {
			t.Errorf("%s: error %q does not name the parameter", q, e.Error)
		}
	}
}

func TestFormatDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{20 * time.Second: "20s", time.Minute: "1m", 2 * time.Hour: "2h", 1500 * time.Millisecond: "1500ms", 90 * time.Second: "90s"} {
		if got := FormatDuration(d); got != want {
			t.Errorf("%s: %s, want %s", d, got, want)
		}
	}
}

// staleOpen is a StatsReader whose open windows were read before a close
// landed: the open read still has the window (with a partial count, half
// dropped), the meta and closed list read after it have it closed.
type staleOpen struct{ memReader }

func (s *staleOpen) ReadMeta(context.Context) (state.Meta, error) {
	m := s.meta
	m.ClosedThrough = t0 // before the close
	return m, nil
}

func TestStatsWindowClosedBetweenReads(t *testing.T) {
	r := &staleOpen{memReader{
		meta:   state.Meta{ClosedThrough: t0 + 20_000, Watermark: t0 + 39_999, Partitions: 6},
		closed: []state.ClosedWindow{win(t0, 40, 5)},
		open:   []state.ClosedWindow{win(t0+20_000, 12, 2), win(t0, 31, 5)},
	}}
	code, body := serve(t, r, "")
	if code != http.StatusOK {
		t.Fatalf("status %d: %s", code, body)
	}
	var st struct {
		Windows []struct {
			Start  string
			Closed bool
			Total  int64
		}
	}
	if err := json.Unmarshal([]byte(body), &st); err != nil {
		t.Fatal(err)
	}
	if len(st.Windows) != 2 || !st.Windows[1].Closed || st.Windows[1].Total != 45 || st.Windows[0].Closed {
		t.Fatalf("windows %+v: want the open one and the closed one, each once, the closed with its final count", st.Windows)
	}
}
