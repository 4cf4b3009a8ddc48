package api

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/vehicle-stats/vehicle-stats/pkg/model"
	"github.com/vehicle-stats/vehicle-stats/services/stats-processor/internal/state"
)

// countingReader is a memReader that counts the closed windows it lists.
type countingReader struct {
	memReader
	listed int
}

func (c *countingReader) ClosedWindows(ctx context.Context, from, to int64, limit int) ([]state.ClosedWindow, error) {
	page, err := c.memReader.ClosedWindows(ctx, from, to, limit)
	c.listed += len(page)
	return page, err
}

func (c *countingReader) MetaAndClosedWindows(ctx context.Context, from, to int64, limit int) (state.Meta, []state.ClosedWindow, error) {
	meta, page, err := c.memReader.MetaAndClosedWindows(ctx, from, to, limit)
	c.listed += len(page)
	return meta, page, err
}

// history is n closed windows of cars and trucks, newest first, the newest
// starting at t0, and one bus window below them all.
func history(n int) *countingReader {
	r := &countingReader{memReader: memReader{meta: state.Meta{ClosedThrough: t0 + 20_000, Watermark: t0 + 19_999, Partitions: 6}}}
	for i := range n {
		r.closed = append(r.closed, win(t0-int64(i)*20_000, 3, 1))
	}
	bus := state.ClosedWindow{Start: t0 - int64(n)*20_000}
	bus.Counts[model.Bus.Index()] = 7
	r.closed = append(r.closed, bus)
	return r
}

// A filter that matches nothing reads ScanBudget windows, not the whole
// history, and says where to go on; going on from there finds what is
// older.
func TestStatsScanIsBounded(t *testing.T) {
	r := history(2 * ScanBudget)
	var st struct {
		Windows        []struct{ Total int64 }
		ContinueBefore *string
	}
	code, body := serve(t, r, "?type=BUS&limit=1")
	if err := json.Unmarshal([]byte(body), &st); code != 200 || err != nil {
		t.Fatalf("%d %s %v", code, body, err)
	}
	if r.listed != ScanBudget {
		t.Errorf("read %d closed windows, want the budget %d", r.listed, ScanBudget)
	}
	wantNext := time.UnixMilli(t0 - (ScanBudget-1)*20_000).UTC().Format("2006-01-02T15:04:05.000Z")
	if len(st.Windows) != 0 || st.ContinueBefore == nil || *st.ContinueBefore != wantNext {
		t.Fatalf("got %s, want no window and continueBefore %s", body, wantNext)
	}
	pages := 1
	for st.ContinueBefore != nil {
		r.listed = 0
		st.ContinueBefore = nil
		_, body = serve(t, r, "?type=BUS&limit=1&to="+wantNext)
		if err := json.Unmarshal([]byte(body), &st); err != nil {
			t.Fatal(err)
		}
		if r.listed > ScanBudget {
			t.Fatalf("page %d read %d closed windows, more than the budget", pages, r.listed)
		}
		if st.ContinueBefore != nil {
			wantNext = *st.ContinueBefore
		}
		pages++
	}
	if pages != 3 || len(st.Windows) != 1 || st.Windows[0].Total != 7 {
		t.Errorf("after %d requests: %s, want the bus window on the third", pages, body)
	}
	// Unfiltered, the limit is reached at once and nothing is said.
	r.listed = 0
	_, body = serve(t, r, "?limit=3")
	if r.listed != 3 || len(body) == 0 || json.Unmarshal([]byte(body), &st) != nil || st.ContinueBefore != nil || len(st.Windows) != 3 {
		t.Errorf("unfiltered: read %d, %s", r.listed, body)
	}
}
