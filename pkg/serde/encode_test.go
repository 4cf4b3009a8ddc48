package serde

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/vehicle-stats/vehicle-stats/pkg/model"
)

func TestAppendTimestampMillis(t *testing.T) {
	const layout = "2006-01-02T15:04:05.000Z07:00"
	check := func(ms int64) {
		t.Helper()
		want := time.UnixMilli(ms).UTC().Format(layout)
		if got := string(AppendTimestampMillis(nil, ms)); got != want {
			t.Fatalf("AppendTimestampMillis(%d) = %s, want %s", ms, got, want)
		}
		if got := string(AppendTimestamp([]byte("x"), time.UnixMilli(ms))); got != "x"+want {
			t.Fatalf("AppendTimestamp(%d) = %s, want x%s", ms, got, want)
		}
	}
	for _, ms := range []int64{
		0, -1, 1, model.MinEventTime, model.MinEventTime + 1, model.MaxEventTime, model.MaxEventTime - 1,
		model.ZeroTimeMillis, 1763768705123, 951782400000, /* 2000-02-29 */
		-62162035200000 /* 0000-02-29 */, -62162035200001, -62159443200000,
		4107542400000 /* 2100-03-01 */, 4107542399999,
	} {
		check(ms)
	}
	// Every day boundary across several 400-year cycles, and random instants.
	for d := int64(-720000); d < -700000; d++ {
		check(d * msPerDay)
		check(d*msPerDay - 1)
	}
	for d := int64(-1000); d < 200000; d += 7 {
		check(d * msPerDay)
		check(d*msPerDay + 86399999)
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 200000 {
		check(model.MinEventTime + r.Int64N(model.MaxEventTime-model.MinEventTime+1))
	}
}

func TestAppendTimestampOutOfRange(t *testing.T) {
	// Outside the range the output is time's own, and not something the
	// decoders accept.
	for _, tm := range []time.Time{
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(-1, 12, 31, 23, 59, 59, 0, time.UTC),
	} {
		out := AppendTimestamp(nil, tm)
		if _, _, err := parseRFC3339(out); err == nil {
			t.Errorf("AppendTimestamp(%v) = %s, which decodes", tm, out)
		}
		if got := string(AppendTimestampMillis(nil, tm.UnixMilli())); got != string(out) {
			t.Errorf("AppendTimestampMillis = %s, AppendTimestamp = %s", got, out)
		}
	}
}

func TestAppendTimestampTruncates(t *testing.T) {
	tm := time.Date(2026, 11, 21, 23, 45, 5, 123999999, time.FixedZone("x", 3600))
	if got := string(AppendTimestamp(nil, tm)); got != "2026-11-21T22:45:05.123Z" {
		t.Errorf("AppendTimestamp = %s", got)
	}
	tm = time.Date(1969, 12, 31, 23, 59, 59, 999999999, time.UTC)
	if got := string(AppendTimestamp(nil, tm)); got != "1969-12-31T23:59:59.999Z" {
		t.Errorf("AppendTimestamp = %s", got)
	}
}
