package serde

import (
	"bytes"
	"errors"
	"flag"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/vehicle-stats/vehicle-stats/pkg/model"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/golden")

func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden file (run with -update to create it): %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s: got\n%s\nwant\n%s", name, got, want)
	}
}

func TestVehicleGolden(t *testing.T) {
	tests := []struct {
		name string
		v    model.Vehicle
	}{
		{"vehicle.json", model.Vehicle{
			PlateNumber:       "CA1234AB",
			VignetteStickerID: "5f0c6c1e-5a9d-4a8e-9a55-0f7a5c0e8f11",
			Timestamp:         time.Date(2026, 11, 21, 23, 45, 5, 123000000, time.UTC),
			VehicleType:       model.Car,
		}},
		{"vehicle_escapes.json", model.Vehicle{
			PlateNumber:       "\"quoted\" \\ back\nslash\t\x01 é€🚗 \u2028\u2029 <&>",
			VignetteStickerID: "",
			// Not UTC and finer than a millisecond: written in UTC, truncated.
			Timestamp:   time.Date(1969, 12, 31, 20, 59, 59, 999999999, time.FixedZone("BRT", -3*3600)),
			VehicleType: model.Motorcycle,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := AppendVehicle(nil, tt.v)
			checkGolden(t, tt.name, out)
			back, err := decodeVehicle(t, out)
			if err != nil {
				t.Fatalf("decode own output: %v", err)
			}
			if back.PlateNumber != tt.v.PlateNumber || back.VignetteStickerID != tt.v.VignetteStickerID ||
				back.VehicleType != tt.v.VehicleType || back.EventTime() != tt.v.EventTime() {
				t.Errorf("round trip: %+v, want %+v", back, tt.v)
			}
		})
	}
}

func TestStatisticsGolden(t *testing.T) {
	tests := []struct {
		name string
		s    model.VehicleStatistics
		want string // the contract's bytes, where the contract shows them
	}{
		{"statistics.json", model.VehicleStatistics{
			Start:       time.Date(2026, 11, 21, 23, 45, 0, 0, time.UTC),
			End:         time.Date(2026, 11, 21, 23, 45, 20, 0, time.UTC),
			VehicleType: model.Car,
			Count:       42,
		}, `{"start":"2026-11-21T23:45:00.000Z","end":"2026-11-21T23:45:20.000Z","vehicleType":"CAR","count":42}`},
		{"statistics_edges.json", model.VehicleStatistics{
			Start:       time.UnixMilli(model.MinEventTime),
			End:         time.UnixMilli(model.MaxEventTime).In(time.FixedZone("x", 7200)),
			VehicleType: model.Motorcycle,
			Count:       1<<63 - 1,
		}, `{"start":"0000-01-01T00:00:00.000Z","end":"9999-12-31T23:59:59.999Z","vehicleType":"MOTORCYCLE","count":9223372036854775807}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := AppendStatistics(nil, tt.s)
			if string(out) != tt.want {
				t.Errorf("AppendStatistics = %s, want %s", out, tt.want)
			}
			if got := AppendStatistics([]byte("prefix"), tt.s); string(got) != "prefix"+tt.want {
				t.Errorf("AppendStatistics after a prefix = %s", got)
			}
			checkGolden(t, tt.name, out)
			back, err := StatisticsCodec{}.Decode(out)
			if err != nil {
				t.Fatalf("decode own output: %v", err)
			}
			if !back.Start.Equal(tt.s.Start) || !back.End.Equal(tt.s.End) || back.VehicleType != tt.s.VehicleType || back.Count != tt.s.Count {
				t.Errorf("round trip: %+v, want %+v", back, tt.s)
			}
		})
	}
}

func TestAppendStatisticsAllocs(t *testing.T) {
	buf := make([]byte, 0, 128)
	s := model.VehicleStatistics{Start: time.UnixMilli(model.MinEventTime), End: time.UnixMilli(model.MaxEventTime), VehicleType: model.Motorcycle, Count: -1 << 63}
	if n := testing.AllocsPerRun(100, func() { buf = AppendStatistics(buf[:0], s) }); n != 0 {
		t.Errorf("AppendStatistics allocates %v times", n)
	}
	if len(buf) > 128 {
		t.Errorf("longest record is %d bytes, more than the documented 128", len(buf))
	}
}

func TestDecodeVehicleEventAllocs(t *testing.T) {
	for _, in := range [][]byte{benchVehicle, benchVehicleJackson, []byte(rec(`"2026-11-21T23:45:05.123\u005A"`, `"\u0043AR"`)), []byte(`{"plate\u004eumber":"P","\u0074imestamp":0,"vehicleTyp\u0065":"CAR"}`)} {
		if n := testing.AllocsPerRun(100, func() { _, _ = DecodeVehicleEvent(in) }); n != 0 {
			t.Errorf("DecodeVehicleEvent(%s) allocates %v times", in, n)
		}
	}
}

func TestStatisticsDecode(t *testing.T) {
	const okJSON = `{"start":"2026-11-21T23:45:00.000Z","end":"2026-11-21T23:45:20.000Z","vehicleType":"CAR","count":42}`
	if _, err := (StatisticsCodec{}).Decode([]byte(okJSON)); err != nil {
		t.Fatal(err)
	}
	v, err := StatisticsCodec{}.Decode([]byte(` {"count":0,"x":[{}],"vehicleType":"B\u0055S","end":"2026-11-22T01:45:20+02:00","start":"2026-11-21T23:45:00Z"} `))
	if err != nil || v.Count != 0 || v.VehicleType != model.Bus || v.End.UnixMilli()-v.Start.UnixMilli() != 20000 || v.End.Location() != time.UTC {
		t.Fatalf("decode = %+v, %v", v, err)
	}
	bad := []struct {
		in string
		is error
	}{
		{``, ErrMalformedJSON},
		{`[]`, ErrWrongType},
		{okJSON + `,`, ErrMalformedJSON},
		{strings.Replace(okJSON, `42`, `-1`, 1), ErrInvalidCount},
		{strings.Replace(okJSON, `42`, `4.2`, 1), ErrInvalidCount},
		{strings.Replace(okJSON, `42`, `4e1`, 1), ErrInvalidCount},
		{strings.Replace(okJSON, `42`, `9223372036854775808`, 1), ErrInvalidCount},
		{strings.Replace(okJSON, `42`, `"42"`, 1), ErrWrongType},
		{strings.Replace(okJSON, `42`, `null`, 1), model.ErrMissingField},
		{strings.Replace(okJSON, `"CAR"`, `"BIKE"`, 1), model.ErrUnknownVehicleType},
		{strings.Replace(okJSON, `"CAR"`, `7`, 1), ErrWrongType},
		{strings.Replace(okJSON, `23:45:20`, `23:45:00`, 1), ErrInvalidTimestamp},
		{strings.Replace(okJSON, `"2026-11-21T23:45:00.000Z"`, `0`, 1), ErrWrongType},
		{strings.Replace(okJSON, `2026-11-21T23:45:00.000Z`, `yesterday`, 1), ErrInvalidTimestamp},
		{strings.Replace(okJSON, `"count":42`, `"count":42,"count":42`, 1), ErrDuplicateKey},
		{strings.Replace(okJSON, `,"count":42`, ``, 1), model.ErrMissingField},
	}
	for _, tt := range bad {
		_, err := StatisticsCodec{}.Decode([]byte(tt.in))
		if !errors.Is(err, tt.is) || !errors.Is(err, ErrInvalidRecord) {
			t.Errorf("Decode(%s) error = %v, want %v", tt.in, err, tt.is)
		}
		if errors.Is(err, model.ErrInvalidVehicle) {
			t.Errorf("Decode(%s) error = %v matches model.ErrInvalidVehicle", tt.in, err)
		}
	}
}

// randomString returns a valid UTF-8 string with a mix of everything JSON
// has to escape and everything it carries as is.
func randomString(r *rand.Rand, minLen int) string {
	pool := []rune{'a', 'Z', '0', ' ', '"', '\\', '/', '\n', '\t', 0, 0x1f, 0x7f, 'é', '€', '🚗', 0x2028, 0x2029, 0xfffd, 0x10ffff, '<', '&'}
	var b strings.Builder
	n := minLen + r.IntN(20)
	for range n {
		if r.IntN(4) == 0 {
			b.WriteRune(pool[r.IntN(len(pool))])
			continue
		}
		c := rune(r.IntN(0x110000))
		if !utf8.ValidRune(c) {
			c = 'x'
		}
		b.WriteRune(c)
	}
	return b.String()
}

func randomMillis(r *rand.Rand) int64 {
	switch r.IntN(4) {
	case 0:
		return model.MinEventTime + r.Int64N(1000)
	case 1:
		return model.MaxEventTime - r.Int64N(1000)
	case 2:
		return 1763768700000 + r.Int64N(1e9)
	}
	return model.MinEventTime + r.Int64N(model.MaxEventTime-model.MinEventTime+1)
}

func TestVehicleRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(42, 3))
	for i := range 20000 {
		ms := randomMillis(r)
		if ms == model.ZeroTimeMillis {
			continue
		}
		v := model.Vehicle{
			PlateNumber:       randomString(r, 1),
			VignetteStickerID: randomString(r, 0),
			Timestamp:         model.TimeFromMillis(ms),
			VehicleType:       model.VehicleTypes()[r.IntN(model.NumVehicleTypes)],
		}
		out := AppendVehicle(nil, v)
		back, err := decodeVehicle(t, out)
		if err != nil {
			t.Fatalf("#%d Decode(%s): %v", i, out, err)
		}
		if back != v {
			t.Fatalf("#%d round trip of %s: %+v, want %+v", i, out, back, v)
		}
	}
}

func TestStatisticsRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(42, 4))
	for i := range 20000 {
		start := randomMillis(r)
		end := start + 1 + r.Int64N(1e6)
		if end > model.MaxEventTime {
			start, end = model.MaxEventTime-1, model.MaxEventTime
		}
		s := model.VehicleStatistics{
			Start:       model.TimeFromMillis(start),
			End:         model.TimeFromMillis(end),
			VehicleType: model.VehicleTypes()[r.IntN(model.NumVehicleTypes)],
			Count:       r.Int64() >> r.IntN(64),
		}
		out := AppendStatistics(nil, s)
		back, err := StatisticsCodec{}.Decode(out)
		if err != nil {
			t.Fatalf("#%d Decode(%s): %v", i, out, err)
		}
		if back != s {
			t.Fatalf("#%d round trip of %s: %+v, want %+v", i, out, back, s)
		}
	}
}
