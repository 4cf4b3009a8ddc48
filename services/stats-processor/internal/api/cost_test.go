package api_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/vehicle-stats/vehicle-stats/internal/testenv"
	"github.com/vehicle-stats/vehicle-stats/pkg/model"
	"github.com/vehicle-stats/vehicle-stats/services/stats-processor/internal/api"
	"github.com/vehicle-stats/vehicle-stats/services/stats-processor/internal/eventtime"
	"github.com/vehicle-stats/vehicle-stats/services/stats-processor/internal/state"
)

// The cost of /stats in Redis commands, against real Redis.

const (
	windowSize = 20 * time.Second
	partitions = 6
	// dayOfWindows is 24 h of 20 s windows: what the default retention
	// keeps.
	dayOfWindows = 4320
)

// commandCounter is a go-redis hook counting the commands sent, one per
// command of a pipeline or transaction.
type commandCounter struct{ n atomic.Int64 }

func (c *commandCounter) DialHook(next redis.DialHook) redis.DialHook { return next }

func (c *commandCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		c.n.Add(1)
		return next(ctx, cmd)
	}
}

func (c *commandCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		c.n.Add(int64(len(cmds)))
		return next(ctx, cmds)
	}
}

// history is a pipeline of six partitions whose Redis holds windows closed
// windows of cars and trucks (never a bus), closed through the closing
// protocol, and an open window on top; its /stats handler; and the counter
// of the commands the handler sends.
type history struct {
	handler  *api.Handler
	commands *commandCounter
	first    int64 // start of the oldest closed window
}

func newHistory(tb testing.TB, windows int) history {
	tb.Helper()
	ctx := context.Background()
	rdb, prefix := testenv.Get(tb).Redis(tb)
	count := &commandCounter{}
	rdb.AddHook(count)
	size := windowSize.Milliseconds()
	now := time.Now().UnixMilli()
	first := now - now%size - int64(windows)*size
	through := first + int64(windows)*size
	s := state.NewRedisStore(rdb, state.NewKeys(prefix, "vehicles"), windowSize, 48*time.Hour)
	closed := make(map[int64]eventtime.Counts, windows)
	for i := range windows {
		var c eventtime.Counts
		c[model.Car.Index()], c[model.Truck.Index()] = int64(10+i%7), int64(i%3)
		closed[first+int64(i)*size] = c
	}
	var open eventtime.Counts
	open[model.Car.Index()] = 4
	for p := range partitions {
		cp := state.Checkpoint{Partition: p, ExpectedOffset: -1, Offset: 1, MaxEventTime: through + 1, IdleFor: time.Hour}
		switch p {
		case 0:
			cp.Windows = closed
		case 1:
			cp.Windows = map[int64]eventtime.Counts{through: open}
		}
		if _, err := s.Load(ctx, p); err != nil { // registers the partition, as a worker does
			tb.Fatal(err)
		}
		if _, err := s.Save(ctx, cp); err != nil {
			tb.Fatal(err)
		}
	}
	l, err := s.TryLead(ctx, "bench", time.Minute, 0)
	tok := l.Token
	if err != nil || tok == 0 {
		tb.Fatalf("closer lease: %d %v", tok, err)
	}
	done, err := s.CloseThrough(ctx, state.Round{Token: tok, Owner: "bench", Partitions: partitions, Through: through, Watermark: through - 1},
		state.Steps{
			Check:    func(string) error { return nil },
			ReadBack: func([]int64) ([]state.OutputRecord, []int64, error) { return nil, []int64{0}, nil },
			Emit:     func(ws []state.ClosedWindow) ([]int64, error) { return []int64{int64(len(ws))}, nil },
		})
	if err != nil || len(done) != windows {
		tb.Fatalf("closed %d of %d windows: %v", len(done), windows, err)
	}
	h := api.NewHandler(s, windowSize, func() int { return partitions })
	return history{handler: h, commands: count, first: first}
}

// filter is one kind of /stats request over a history.
type filter struct {
	name  string
	query func(h history) api.Query
}

var filters = []filter{
	{"none", func(history) api.Query { return query(api.DefaultLimit, model.VehicleTypeUnknown) }},
	{"type", func(history) api.Query { return query(1, model.Bus) }}, // never occurs
	{"from-to", func(h history) api.Query { // the first hour
		q := query(api.MaxLimit, model.VehicleTypeUnknown)
		q.From = h.first
		q.To = q.From + 3600_000
		return q
	}},
	{"type-from-to", func(h history) api.Query { // the whole day, from the first window on
		q := query(1, model.Bus)
		q.From = h.first
		return q
	}},
}

func query(limit int, t model.VehicleType) api.Query {
	return api.Query{Limit: limit, Type: t, From: model.MinEventTime, To: model.MaxEventTime + 1}
}

// cost reads q once and returns the Redis commands it sent.
func (h history) cost(tb testing.TB, q api.Query) (int64, api.Stats) {
	tb.Helper()
	before := h.commands.n.Load()
	st, err := h.handler.Read(context.Background(), q)
	if err != nil {
		tb.Fatal(err)
	}
	return h.commands.n.Load() - before, st
}

// maxCommands bounds the Redis commands of any /stats request: the meta,
// the partitions' open windows, the meta and first page in one
// transaction, then at most api.ScanBudget (= MaxLimit: no more than the
// largest unfiltered request) closed windows in pages of 100 or
// more (a command to list each page, one to read each window).
const maxCommands = 1 + partitions + 4 + (1 + api.MaxLimit/100) + api.MaxLimit

// TestIntegrationStatsCostBounded: a request for a type that never occurs,
// over a day of closed windows, costs at most maxCommands, and so does
// every other filter.
func TestIntegrationStatsCostBounded(t *testing.T) {
	h := newHistory(t, dayOfWindows)
	for _, f := range filters {
		n, st := h.cost(t, f.query(h))
		t.Logf("%s: %d Redis commands, %d windows", f.name, n, len(st.Windows))
		if n > maxCommands {
			t.Errorf("%s: %d Redis commands for one request over %d closed windows, want at most %d", f.name, n, dayOfWindows, maxCommands)
		}
	}
}

// BenchmarkStatsCost reports the Redis commands per /stats request
// (redis-cmds/op) for each filter, over a day of closed windows and over
// a quarter of one: the figures do not grow with the history.
func BenchmarkStatsCost(b *testing.B) {
	for _, windows := range []int{dayOfWindows / 4, dayOfWindows} {
		h := newHistory(b, windows)
		for _, f := range filters {
			b.Run(fmt.Sprintf("windows=%d/filter=%s", windows, f.name), func(b *testing.B) {
				q := f.query(h)
				var total int64
				for b.Loop() {
					n, _ := h.cost(b, q)
					total += n
				}
				b.ReportMetric(float64(total)/float64(b.N), "redis-cmds/op")
			})
		}
	}
}
