package generator_test

import (
	"math"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/vehicle-stats/vehicle-stats/pkg/model"
	"github.com/vehicle-stats/vehicle-stats/pkg/serde"
	"github.com/vehicle-stats/vehicle-stats/pkg/serde/serdetest"
	"github.com/vehicle-stats/vehicle-stats/services/vehicle-producer/internal/generator"
)

var now = time.Date(2026, 11, 21, 23, 45, 5, 123_000_000, time.UTC)

func mustNew(t testing.TB, cfg generator.Config, seed uint64) *generator.Generator {
	t.Helper()
	g, err := generator.New(cfg, seed)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func TestTypeDistribution(t *testing.T) {
	const n = 100_000
	cfg := generator.DefaultConfig()
	g := mustNew(t, cfg, 42)
	var counts [model.NumVehicleTypes]int
	var e generator.Event
	for range n {
		g.Next(now, &e)
		counts[e.Type.Index()]++
	}
	for _, typ := range model.VehicleTypes() {
		p := cfg.Weights.Share(typ)
		got := float64(counts[typ.Index()])
		want := p * n
		// Five standard deviations of a binomial count: a fixed seed makes
		// this deterministic, the bound makes it meaningful for any seed.
		tol := 5 * math.Sqrt(n*p*(1-p))
		if math.Abs(got-want) > tol {
			t.Errorf("%s: %v of %d events, want %.0f ± %.0f", typ, got, n, want, tol)
		}
		t.Logf("%-10s %6.0f  (%.2f%%, want %.2f%%)", typ, got, 100*got/n, 100*p)
	}
}

func TestZeroWeightNeverOccurs(t *testing.T) {
	cfg := generator.DefaultConfig()
	cfg.Weights = generator.Weights{Truck: 1, Bus: 3}
	g := mustNew(t, cfg, 7)
	var e generator.Event
	seen := map[model.VehicleType]int{}
	for range 10_000 {
		g.Next(now, &e)
		seen[e.Type]++
	}
	if len(seen) != 2 || seen[model.Truck] == 0 || seen[model.Bus] == 0 {
		t.Fatalf("types seen: %v, want only TRUCK and BUS", seen)
	}
	if r := float64(seen[model.Bus]) / float64(seen[model.Truck]); r < 2.7 || r > 3.3 {
		t.Errorf("BUS/TRUCK = %.2f, want about 3 (weights are relative)", r)
	}
}

func sequence(t *testing.T, cfg generator.Config, seed uint64, n int) []generator.Event {
	g := mustNew(t, cfg, seed)
	out := make([]generator.Event, n)
	for i := range out {
		// A different clock per call must not change anything but Time.
		g.Next(now.Add(time.Duration(i)*time.Second), &out[i])
	}
	return out
}

func TestSameSeedSameSequence(t *testing.T) {
	cfg := generator.DefaultConfig()
	cfg.Jitter = 3 * time.Second
	cfg.LateFraction = 0.1
	a := sequence(t, cfg, 1234, 1000)
	b := sequence(t, cfg, 1234, 1000)
	c := sequence(t, cfg, 1235, 1000)
	same := 0
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("event %d differs between two runs with seed 1234:\n%+v\n%+v", i, a[i].Vehicle(), b[i].Vehicle())
		}
		if string(a[i].Sticker()) == string(c[i].Sticker()) {
			same++
		}
	}
	if same > 0 {
		t.Errorf("seeds 1234 and 1235 share %d stickers", same)
	}
	if a[0].Seq != 1 || a[999].Seq != 1000 {
		t.Errorf("Seq runs %d..%d, want 1..1000", a[0].Seq, a[999].Seq)
	}
}

func TestSeedZeroIsAValidSeed(t *testing.T) {
	a := sequence(t, generator.DefaultConfig(), 0, 10)
	b := sequence(t, generator.DefaultConfig(), 0, 10)
	if a[9] != b[9] {
		t.Error("seed 0 is not reproducible inside the generator")
	}
	for range 100 {
		if s := generator.RandomSeed(); s == 0 || s >= 1<<53 {
			t.Fatalf("RandomSeed returned %d, want 1..2^53-1", s)
		}
	}
}

func TestNoJitterStampsNow(t *testing.T) {
	g := mustNew(t, generator.DefaultConfig(), 1)
	var e generator.Event
	for range 1000 {
		g.Next(now, &e)
		if !e.Time.Equal(now) || e.Delay != 0 || e.Late {
			t.Fatalf("event %+v: want time = now, no delay, not late", e)
		}
	}
}

func TestJitterBounds(t *testing.T) {
	cfg := generator.DefaultConfig()
	cfg.Jitter = 5 * time.Second
	g := mustNew(t, cfg, 99)
	var e generator.Event
	var lo, hi time.Duration = cfg.Jitter, 0
	for range 20_000 {
		g.Next(now, &e)
		if e.Delay < 0 || e.Delay >= cfg.Jitter || e.Late {
			t.Fatalf("delay %v outside [0, %v) (late %v)", e.Delay, cfg.Jitter, e.Late)
		}
		if !e.Time.Equal(now.Add(-e.Delay)) {
			t.Fatalf("time %v != now - %v", e.Time, e.Delay)
		}
		lo, hi = min(lo, e.Delay), max(hi, e.Delay)
	}
	// The delays fill the range rather than sitting in one corner of it.
	if lo > 50*time.Millisecond || hi < cfg.Jitter-50*time.Millisecond {
		t.Errorf("delays span %v..%v, want about 0..%v", lo, hi, cfg.Jitter)
	}
}

func TestLateFraction(t *testing.T) {
	const n = 50_000
	cfg := generator.DefaultConfig()
	cfg.Jitter = 2 * time.Second
	cfg.LateFraction = 0.05
	cfg.LateDelay = 20 * time.Second
	g := mustNew(t, cfg, 5)
	var e generator.Event
	late := 0
	for range n {
		g.Next(now, &e)
		if !e.Late {
			if e.Delay >= cfg.Jitter {
				t.Fatalf("in-order event delayed %v, jitter is %v", e.Delay, cfg.Jitter)
			}
			continue
		}
		late++
		if e.Delay <= cfg.Jitter+cfg.LateDelay || e.Delay > cfg.Jitter+2*cfg.LateDelay+time.Millisecond {
			t.Fatalf("late event delayed %v, want in (%v, %v]", e.Delay, cfg.Jitter+cfg.LateDelay, cfg.Jitter+2*cfg.LateDelay+time.Millisecond)
		}
		// Late in the contract's sense: its 20 s window ended before the
		// earliest in-order event time a processor could still be waiting for.
		_, end := model.WindowBounds(e.Time.UnixMilli(), cfg.LateDelay.Milliseconds())
		if end > now.Add(-cfg.Jitter).UnixMilli() {
			t.Fatalf("late event at %v: its window ends at %v, after now - jitter", e.Time, model.TimeFromMillis(end))
		}
	}
	p := cfg.LateFraction
	if tol := 5 * math.Sqrt(n*p*(1-p)); math.Abs(float64(late)-p*n) > tol {
		t.Errorf("%d late of %d, want %.0f ± %.0f", late, n, p*n, tol)
	}
}

var (
	plateRE   = regexp.MustCompile(`^(A|B|BH|BP|BT|E|EB|EH|K|KH|M|H|OB|P|PA|PB|PK|PP|C|CA|CB|CH|CM|CO|CC|CT|T|TX|X|Y)[0-9]{4}[ABEKMHOPCTYX]{2}$`)
	stickerRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
)

func TestPlateAndStickerFormat(t *testing.T) {
	g := mustNew(t, generator.DefaultConfig(), 3)
	var e generator.Event
	regions := map[string]bool{}
	digits := map[byte]int{}
	stickers := map[string]bool{}
	for range 50_000 {
		g.Next(now, &e)
		p := string(e.Plate())
		if !plateRE.MatchString(p) {
			t.Fatalf("plate %q is not a Bulgarian-style plate", p)
		}
		regions[strings.TrimRight(p[:2], "0123456789")] = true
		digits[p[len(p)-6]]++
		s := string(e.Sticker())
		if !stickerRE.MatchString(s) {
			t.Fatalf("sticker %q is not a version 4 UUID", s)
		}
		if stickers[s] {
			t.Fatalf("sticker %s repeated", s)
		}
		stickers[s] = true
	}
	if len(regions) != 30 {
		t.Errorf("%d region codes seen, want all 30", len(regions))
	}
	for d := byte('0'); d <= '9'; d++ {
		if c := digits[d]; c < 4500 || c > 5500 {
			t.Errorf("first digit %c in %d of 50000 plates, want about 5000", d, c)
		}
	}
}

func TestEventsMeetTheContract(t *testing.T) {
	cfg := generator.DefaultConfig()
	cfg.Jitter = time.Second
	cfg.LateFraction = 0.2
	g := mustNew(t, cfg, 11)
	var e generator.Event
	for range 1000 {
		g.Next(now, &e)
		v := e.Vehicle()
		if err := v.Validate(); err != nil {
			t.Fatalf("invalid %+v: %v", v, err)
		}
		b := serde.AppendVehicle(nil, v)
		got, err := serdetest.DecodeVehicle(b)
		if err != nil {
			t.Fatalf("decode %s: %v", b, err)
		}
		if got.PlateNumber != v.PlateNumber || got.VignetteStickerID != v.VignetteStickerID ||
			got.VehicleType != v.VehicleType || got.EventTime() != v.EventTime() {
			t.Fatalf("round trip %s: %+v != %+v", b, got, v)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	if err := generator.DefaultConfig().Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	bad := generator.DefaultConfig()
	bad.Weights.Truck = -1
	bad.Weights.Bus = math.NaN()
	bad.Jitter = -time.Second
	bad.LateFraction = 1.5
	bad.LateDelay = 0
	err := bad.Validate()
	if err == nil {
		t.Fatal("Validate accepted a bad config")
	}
	for _, key := range []string{"weights.truck", "weights.bus", "jitter", "late_fraction", "late_delay"} {
		if !strings.Contains(err.Error(), key+":") {
			t.Errorf("error does not name %s: %v", key, err)
		}
	}
	zero := generator.DefaultConfig()
	zero.Weights = generator.Weights{}
	if err := zero.Validate(); err == nil || !strings.Contains(err.Error(), "weights:") {
		t.Errorf("all-zero weights: %v", err)
	}
	if _, err := generator.New(zero, 1); err == nil {
		t.Error("New accepted an invalid config")
	}
}
