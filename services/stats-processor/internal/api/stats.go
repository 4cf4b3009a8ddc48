package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/vehicle-stats/vehicle-stats/internal/httpserver"
	"github.com/vehicle-stats/vehicle-stats/pkg/model"
	"github.com/vehicle-stats/vehicle-stats/pkg/serde"
	"github.com/vehicle-stats/vehicle-stats/services/stats-processor/internal/eventtime"
	"github.com/vehicle-stats/vehicle-stats/services/stats-processor/internal/state"
)

// Limits of the limit parameter.
const (
	DefaultLimit = 10
	MaxLimit     = 1000
)

// ScanBudget bounds the closed windows one request reads from Redis,
// whatever its filter. A type filter leaves out the windows without the
// type, so without a bound a request for a type that never occurs would
// read every window of the retention (4,320 a day at 20 s). It is MaxLimit:
// no request reads more than the largest unfiltered one may. A request that
// spends it before finding limit windows says where it stopped
// (Stats.ContinueBefore).
const ScanBudget = MaxLimit

// scanPage is the smallest page of closed windows read after the first,
// so a request with a small limit reaches the budget in a few round trips.
const scanPage = 100

// StatsReader is what /stats needs of the state; state.RedisStore
// implements it.
type StatsReader interface {
	ReadMeta(ctx context.Context) (state.Meta, error)
	ClosedWindows(ctx context.Context, from, to int64, limit int) ([]state.ClosedWindow, error)
	MetaAndClosedWindows(ctx context.Context, from, to int64, limit int) (state.Meta, []state.ClosedWindow, error)
	OpenWindows(ctx context.Context, partitions int, closedThrough int64) ([]state.ClosedWindow, error)
}

// Window is one window in a /stats answer.
type Window struct {
	Start  Timestamp        `json:"start"`
	End    Timestamp        `json:"end"`
	Closed bool             `json:"closed"`
	Counts map[string]int64 `json:"counts"`
	Total  int64            `json:"total"`
}

// Stats is the /stats answer.
type Stats struct {
	WindowSize string     `json:"windowSize"`
	Watermark  *Timestamp `json:"watermark"`
	Windows    []Window   `json:"windows"`
	// ContinueBefore is set only when the request read ScanBudget closed
	// windows without finding limit windows to list: windows starting
	// before it were not looked at; ask again with to=ContinueBefore.
	ContinueBefore *Timestamp `json:"continueBefore,omitempty"`
}

// Timestamp is epoch ms that marshals as RFC 3339 UTC with milliseconds.
type Timestamp int64

// MarshalJSON writes the contract's timestamp form.
func (t Timestamp) MarshalJSON() ([]byte, error) {
	b := append(make([]byte, 0, 26), '"')
	b = serde.AppendTimestampMillis(b, int64(t))
	return append(b, '"'), nil
}

// Query is a parsed /stats request.
type Query struct {
	Limit    int
	Type     model.VehicleType // VehicleTypeUnknown: all types
	From, To int64             // window starts in [From, To)
}

// ParseQuery validates the query parameters; the error names the parameter
// and echoes its value cut to httpserver.MaxQuoted characters.
func ParseQuery(c *gin.Context) (Query, error) {
	q := Query{Limit: DefaultLimit, From: model.MinEventTime, To: model.MaxEventTime + 1}
	if s, ok := c.GetQuery("limit"); ok {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > MaxLimit {
			return q, fmt.Errorf("limit: %s must be a whole number from 1 to %d", httpserver.Quote(s), MaxLimit)
		}
		q.Limit = n
	}
	if s, ok := c.GetQuery("type"); ok {
		t, err := model.ParseVehicleType(s)
		if err != nil {
			return q, fmt.Errorf("type: %s is not one of CAR, TRUCK, BUS, VAN, MOTORCYCLE", httpserver.Quote(s))
		}
		q.Type = t
	}
	for _, p := range []struct {
		name string
		dst  *int64
	}{{"from", &q.From}, {"to", &q.To}} {
		s, ok := c.GetQuery(p.name)
		if !ok {
			continue
		}
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return q, fmt.Errorf("%s: %s is not an RFC 3339 time like 2026-11-21T23:45:00Z", p.name, httpserver.Quote(s))
		}
		*p.dst = t.UnixMilli()
	}
	if q.From >= q.To {
		return q, errors.New("from: must be before to")
	}
	return q, nil
}

// Handler serves /stats.
type Handler struct {
	reader     StatsReader
	windowSize time.Duration
	partitions func() int
}

// NewHandler returns the /stats handler; partitions reports the input
// topic's partition count.
func NewHandler(reader StatsReader, windowSize time.Duration, partitions func() int) *Handler {
	return &Handler{reader: reader, windowSize: windowSize, partitions: partitions}
}

// Register adds GET (and HEAD) /stats to e.
func (h *Handler) Register(e *gin.Engine) { httpserver.GET(e, "/stats", h.serve) }

func (h *Handler) serve(c *gin.Context) {
	q, err := ParseQuery(c)
	if err != nil {
		c.JSON(http.StatusBadRequest, gin.H{"error": err.Error()})
		return
	}
	ctx, cancel := context.WithTimeout(c.Request.Context(), 5*time.Second)
	defer cancel()
	st, err := h.Read(ctx, q)
	if err != nil {
		c.JSON(http.StatusServiceUnavailable, gin.H{"error": "reading state from Redis failed: " + err.Error()})
		return
	}
	c.JSON(http.StatusOK, st)
}

// Read builds the answer to q: the open windows (summed over the
// partitions' partial counts) and the closed ones, newest first, each window
// once. The open windows are read first, then the meta and the closed
// windows from one snapshot: a window that closed in between is listed
// closed only (the meta's closed bound and the closed list win over the
// partials, which a close drops after marking). It reads at most
// ScanBudget closed windows: the Redis commands of a request are bounded by
// the partition count and the budget, whatever the filter and however long
// the history.
func (h *Handler) Read(ctx context.Context, q Query) (Stats, error) {
	first, err := h.reader.ReadMeta(ctx)
	if err != nil {
		return Stats{}, err
	}
	var open []state.ClosedWindow
	if n := max(h.partitions(), first.Partitions); n > 0 {
		if open, err = h.reader.OpenWindows(ctx, n, first.ClosedThrough); err != nil {
			return Stats{}, err
		}
	}
	meta, page, err := h.reader.MetaAndClosedWindows(ctx, q.From, q.To, q.Limit)
	if err != nil {
		return Stats{}, err
	}
	out := Stats{WindowSize: FormatDuration(h.windowSize), Windows: []Window{}}
	if meta.Watermark != eventtime.NoWatermark {
		w := Timestamp(meta.Watermark)
		out.Watermark = &w
	}
	size := h.windowSize.Milliseconds()
	listed := map[int64]bool{}
	keep := func(w state.ClosedWindow, closed bool) {
		if len(out.Windows) >= q.Limit || w.Start < q.From || w.Start >= q.To || listed[w.Start] {
			return
		}
		win := Window{Start: Timestamp(w.Start), End: Timestamp(w.Start + size), Closed: closed, Counts: map[string]int64{}}
		for _, t := range model.VehicleTypes() {
			n := w.Counts[t.Index()]
			if n == 0 || (q.Type != model.VehicleTypeUnknown && q.Type != t) {
				continue
			}
			win.Counts[t.String()] = n
			win.Total += n
		}
		if win.Total > 0 {
			out.Windows = append(out.Windows, win)
			listed[w.Start] = true
		}
	}
	closedInPage := map[int64]bool{}
	for _, w := range page {
		closedInPage[w.Start] = true
	}
	for _, w := range open {
		if w.Start+size > meta.ClosedThrough && !closedInPage[w.Start] {
			keep(w, false)
		}
	}
	// Closed windows, a page at a time, until the limit is reached (a type
	// filter can skip some) or ScanBudget windows were read.
	asked, read := q.Limit, len(page)
	for {
		for _, w := range page {
			keep(w, true)
		}
		if len(page) < asked || len(out.Windows) >= q.Limit {
			break
		}
		next := page[len(page)-1].Start
		if read >= ScanBudget {
			at := Timestamp(next)
			out.ContinueBefore = &at
			break
		}
		asked = min(max(q.Limit, scanPage), ScanBudget-read)
		if page, err = h.reader.ClosedWindows(ctx, q.From, next, asked); err != nil {
			return Stats{}, err
		}
		read += len(page)
	}
	return out, nil
}

// FormatDuration writes a window size the way configuration takes it:
// "20s", "1m", "1h", "1500ms".
func FormatDuration(d time.Duration) string {
	switch {
	case d%time.Hour == 0:
		return strconv.FormatInt(int64(d/time.Hour), 10) + "h"
	case d%time.Minute == 0:
		return strconv.FormatInt(int64(d/time.Minute), 10) + "m"
	case d%time.Second == 0:
		return strconv.FormatInt(int64(d/time.Second), 10) + "s"
	default:
		return strconv.FormatInt(d.Milliseconds(), 10) + "ms"
	}
}
