package serde

import (
	"bytes"
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

func TestSkipPlain(t *testing.T) {
	naive := func(data []byte, i int) int {
		for i < len(data) && plainString[data[i]] {
			i++
		}
		return i
	}
	r := rand.New(rand.NewPCG(5, 6))
	special := []byte{0, 0x1f, 0x20, '"', '\\', 0x7f, 0x80, 0xff, 'a', '!', '#', '[', ']', 0x21, 0x5b, 0x5d}
	for range 200000 {
		data := make([]byte, r.IntN(40))
		for j := range data {
			if r.IntN(3) == 0 {
				data[j] = special[r.IntN(len(special))]
			} else if r.IntN(2) == 0 {
				data[j] = byte(r.IntN(256))
			} else {
				data[j] = byte(0x20 + r.IntN(0x5f))
			}
		}
		i := 0
		if len(data) > 0 {
			i = r.IntN(len(data) + 1)
		}
		if got, want := skipPlain(data, i), naive(data, i); got != want {
			t.Fatalf("skipPlain(%q, %d) = %d, want %d", data, i, got, want)
		}
	}
	for c := range 256 {
		data := bytes.Repeat([]byte{'a'}, 20)
		data[11] = byte(c)
		if got, want := skipPlain(data, 0), naive(data, 0); got != want {
			t.Fatalf("skipPlain with byte %#x = %d, want %d", c, got, want)
		}
	}
}
