package eventtime_test

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/vehicle-stats/vehicle-stats/pkg/model"
	et "github.com/vehicle-stats/vehicle-stats/services/stats-processor/internal/eventtime"
)

var cfg = et.Config{WindowSize: 20 * time.Second, MaxOutOfOrderness: 0, IdleTimeout: 30 * time.Second}

func TestConfigValidate(t *testing.T) {
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	bad := et.Config{WindowSize: 1500 * time.Microsecond, MaxOutOfOrderness: -time.Second, IdleTimeout: 0, MaxFuture: -time.Hour}
	err := bad.Validate()
	if err == nil {
		t.Fatal("want errors")
	}
	for _, key := range []string{"window.size", "watermark.max_out_of_orderness", "watermark.idle_timeout", "watermark.max_future"} {
		if !contains(err.Error(), key) {
			t.Errorf("error lacks %s: %v", key, err)
		}
	}
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}

func TestAddTable(t *testing.T) {
	type ev struct {
		t    int64
		want et.Verdict
	}
	tests := []struct {
		name   string
		ooo    time.Duration
		sealed int64
		events []ev
	}{
		{"in order", 0, et.NoWatermark, []ev{{1000, et.Counted}, {19999, et.Counted}, {20000, et.Counted}, {39999, et.Counted}}},
		// After 20000 the watermark is 19999 = end-1 of [0,20000): closed for this partition.
		{"late by watermark at boundary", 0, et.NoWatermark, []ev{{20000, et.Counted}, {19999, et.LateByWatermark}, {20000, et.Counted}}},
		// Out of order within the same window is fine with zero out-of-orderness.
		{"same window out of order", 0, et.NoWatermark, []ev{{5000, et.Counted}, {1000, et.Counted}}},
		{"bounded out of orderness", 5 * time.Second, et.NoWatermark, []ev{
			{24000, et.Counted}, // wm 18999
			{19999, et.Counted}, // end-1 19999 > 18999
			{25000, et.Counted}, // wm 19999
			{19999, et.LateByWatermark},
		}},
		{"closed window", 0, 40000, []ev{{39999, et.LateByClosedWindow}, {40000, et.Counted}, {0, et.LateByClosedWindow}}},
		{"negative times", 0, et.NoWatermark, []ev{{-1, et.Counted}, {-20000, et.Counted}, {-20001, et.LateByWatermark}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := cfg
			c.MaxOutOfOrderness = tc.ooo
			p := et.NewPartition(c)
			p.Restore(et.NoWatermark, tc.sealed, nil)
			for i, e := range tc.events {
				if got := p.Add(e.t, model.Car); got != e.want {
					t.Errorf("event %d (t=%d): verdict %d, want %d", i, e.t, got, e.want)
				}
			}
		})
	}
}

func TestWatermarkAndClosedThrough(t *testing.T) {
	p := et.NewPartition(cfg)
	if p.Watermark() != et.NoWatermark {
		t.Fatal("fresh partition has a watermark")
	}
	p.Add(39999, model.Truck)
	if p.Watermark() != 39998 {
		t.Errorf("watermark %d", p.Watermark())
	}
	for _, tc := range []struct{ w, want int64 }{
		{et.NoWatermark, et.NoWatermark}, {19998, 0}, {19999, 20000}, {20000, 20000}, {39998, 20000}, {39999, 40000}, {-1, 0}, {-2, -20000},
	} {
		if got := et.ClosedThrough(tc.w, cfg.WindowSize); got != tc.want {
			t.Errorf("ClosedThrough(%d) = %d, want %d", tc.w, got, tc.want)
		}
	}
}

func TestSealAndDirty(t *testing.T) {
	p := et.NewPartition(cfg)
	p.Add(1000, model.Car)
	p.Add(21000, model.Bus)
	p.MarkSaved()
	if p.HasDirty() {
		t.Fatal("dirty after MarkSaved")
	}
	// Sealing saved counts loses nothing.
	if p.Seal(20000) {
		t.Error("seal of saved window reported a loss")
	}
	n := 0
	p.Windows(func(start int64, c et.Counts) {
		n++
		if start != 20000 || c[model.Bus.Index()] != 1 {
			t.Errorf("window %d %v", start, c)
		}
	})
	if n != 1 {
		t.Errorf("%d windows left", n)
	}
	// An unsaved count in a window the pipeline then closes is a loss.
	p.Add(22000, model.Car)
	if !p.Seal(40000) {
		t.Error("seal of a dirty window did not report the loss")
	}
	if p.Seal(40000) {
		t.Error("sealing again reported a loss")
	}
}

func TestIsIdle(t *testing.T) {
	if et.IsIdle(false, 0, 100_000, cfg.IdleTimeout) {
		t.Error("idle while not caught up")
	}
	if et.IsIdle(true, 0, 29_999, cfg.IdleTimeout) {
		t.Error("idle before the timeout")
	}
	if !et.IsIdle(true, 0, 30_000, cfg.IdleTimeout) {
		t.Error("not idle after the timeout")
	}
}

func TestPipelineWatermark(t *testing.T) {
	nw := et.NoWatermark
	for _, tc := range []struct {
		name  string
		parts []et.PartitionStatus
		want  int64
	}{
		{"none", nil, nw},
		{"min", []et.PartitionStatus{{Watermark: 5}, {Watermark: 3}, {Watermark: 9}}, 3},
		{"a partition without events holds it", []et.PartitionStatus{{Watermark: 5}, {Watermark: nw}}, nw},
		{"idle partitions are skipped", []et.PartitionStatus{{Watermark: 5}, {Watermark: 1, Idle: true}}, 5},
		{"idle without events is skipped", []et.PartitionStatus{{Watermark: 5}, {Watermark: nw, Idle: true}}, 5},
		{"all idle: wall clock", []et.PartitionStatus{{Watermark: 5, Idle: true}, {Watermark: nw, Idle: true}}, 100_000 - 30_000},
	} {
		if got := et.PipelineWatermark(tc.parts, 100_000, cfg); got != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, got, tc.want)
		}
	}
}

// naive is the contract's definition, written as plainly as possible: it
// keeps every event and recomputes everything from scratch.
type naive struct {
	size, ooo int64
	seen      []int64
	closed    int64
	counts    map[int64]*et.Counts
}

func (n *naive) add(t int64, typ model.VehicleType) et.Verdict {
	start := t - ((t%n.size)+n.size)%n.size
	end := start + n.size
	wm := et.NoWatermark
	for _, s := range n.seen {
		if s-n.ooo-1 > wm {
			wm = s - n.ooo - 1
		}
	}
	n.seen = append(n.seen, t)
	if end <= n.closed {
		return et.LateByClosedWindow
	}
	if wm != et.NoWatermark && end-1 <= wm {
		return et.LateByWatermark
	}
	if n.counts[start] == nil {
		n.counts[start] = new(et.Counts)
	}
	n.counts[start][typ.Index()]++
	return et.Counted
}

func TestPartitionAgainstNaive(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 300 {
		ooo := time.Duration(rng.IntN(4)) * 7 * time.Second
		c := et.Config{WindowSize: time.Duration(1+rng.IntN(30)) * time.Second, MaxOutOfOrderness: ooo, IdleTimeout: time.Second}
		p := et.NewPartition(c)
		ref := &naive{size: c.WindowSize.Milliseconds(), ooo: ooo.Milliseconds(), closed: et.NoWatermark, counts: map[int64]*et.Counts{}}
		base := int64(rng.IntN(1 << 40))
		tm := base
		for i := range 500 {
			tm += int64(rng.IntN(3000)) - 1000 // mostly forward, sometimes back
			if rng.IntN(50) == 0 {
				tm -= int64(rng.IntN(100_000)) // a straggler
			}
			typ := model.VehicleTypes()[rng.IntN(model.NumVehicleTypes)]
			if rng.IntN(100) == 0 { // the pipeline closes some windows
				through := et.ClosedThrough(tm-int64(rng.IntN(60_000)), c.WindowSize)
				if through > ref.closed {
					ref.closed = through
					for s := range ref.counts {
						if s+ref.size <= through {
							delete(ref.counts, s)
						}
					}
				}
				p.MarkSaved()
				p.Seal(through)
			}
			got, want := p.Add(tm, typ), ref.add(tm, typ)
			if got != want {
				t.Fatalf("round %d event %d (t=%d): verdict %d, naive %d", round, i, tm, got, want)
			}
		}
		n := 0
		p.Windows(func(start int64, c et.Counts) {
			n++
			if w := ref.counts[start]; w == nil || *w != c {
				t.Fatalf("round %d window %d: %v, naive %v", round, start, c, w)
			}
		})
		if n != len(ref.counts) {
			t.Fatalf("round %d: %d windows, naive %d", round, n, len(ref.counts))
		}
	}
}

// TestOutputIndependentOfInterleaving checks the contract's promise: with no
// idle partition, the closed windows' counts depend on the input log alone,
// not on how the partitions' processing interleaves or when windows close.
func TestOutputIndependentOfInterleaving(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	c := et.Config{WindowSize: 10 * time.Second, MaxOutOfOrderness: 3 * time.Second, IdleTimeout: time.Hour}
	const parts = 4
	logs := make([][]int64, parts)
	for p := range logs {
		tm := int64(0)
		for range 400 {
			tm += int64(rng.IntN(1500)) - 300
			logs[p] = append(logs[p], tm)
		}
	}
	run := func(seed uint64) map[int64]et.Counts {
		r := rand.New(rand.NewPCG(seed, 0))
		ps := make([]*et.Partition, parts)
		pos := make([]int, parts)
		for i := range ps {
			ps[i] = et.NewPartition(c)
		}
		out := map[int64]et.Counts{}
		closeUpTo := func(w int64) {
			through := et.ClosedThrough(w, c.WindowSize)
			for _, p := range ps {
				p.MarkSaved()
				p.Windows(func(start int64, cnt et.Counts) {
					if start+c.WindowSize.Milliseconds() <= through {
						o := out[start]
						for i := range cnt {
							o[i] += cnt[i]
						}
						out[start] = o
					}
				})
				p.Seal(through)
			}
		}
		for {
			var live []int
			for i := range ps {
				if pos[i] < len(logs[i]) {
					live = append(live, i)
				}
			}
			if len(live) == 0 {
				break
			}
			i := live[r.IntN(len(live))]
			ps[i].Add(logs[i][pos[i]], model.Car)
			pos[i]++
			if r.IntN(20) == 0 {
				st := make([]et.PartitionStatus, parts)
				for j, p := range ps {
					st[j] = et.PartitionStatus{Watermark: p.Watermark()}
				}
				closeUpTo(et.PipelineWatermark(st, 0, c))
			}
		}
		closeUpTo(1 << 50)
		return out
	}
	want := run(1)
	if len(want) < 10 {
		t.Fatalf("only %d windows", len(want))
	}
	for seed := uint64(2); seed < 40; seed++ {
		got := run(seed)
		if len(got) != len(want) {
			t.Fatalf("seed %d: %d windows, want %d", seed, len(got), len(want))
		}
		for s, c := range want {
			if got[s] != c {
				t.Fatalf("seed %d window %d: %v, want %v", seed, s, got[s], c)
			}
		}
	}
}

func BenchmarkAdd(b *testing.B) {
	p := et.NewPartition(cfg)
	b.ReportAllocs()
	tm := int64(1_763_768_700_000)
	for i := 0; b.Loop(); i++ {
		p.Add(tm+int64(i%100_000), model.Car)
	}
}

func FuzzAdd(f *testing.F) {
	f.Add(int64(0), int64(19_999), int64(20_000), uint8(1))
	f.Fuzz(func(t *testing.T, a, b, c int64, typ uint8) {
		if a < model.MinEventTime || a > model.MaxEventTime || b < model.MinEventTime || b > model.MaxEventTime ||
			c < model.MinEventTime || c > model.MaxEventTime {
			return
		}
		vt := model.VehicleType(typ%model.NumVehicleTypes + 1)
		p := et.NewPartition(cfg)
		for _, tm := range []int64{a, b, c} {
			v := p.Add(tm, vt)
			start := model.WindowStart(tm, 20_000)
			if tm < start || tm >= start+20_000 {
				t.Fatalf("window of %d is [%d,%d)", tm, start, start+20_000)
			}
			_ = v
		}
		if p.MaxEventTime() != max(a, b, c) {
			t.Fatalf("max %d", p.MaxEventTime())
		}
	})
}
