package model

import (
	"encoding"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

var (
	_ encoding.TextMarshaler   = VehicleType(0)
	_ encoding.TextAppender    = VehicleType(0)
	_ encoding.TextUnmarshaler = (*VehicleType)(nil)
)

func TestVehicleTypeRoundTrip(t *testing.T) {
	names := []string{"CAR", "TRUCK", "BUS", "VAN", "MOTORCYCLE"}
	types := VehicleTypes()
	if len(types) != NumVehicleTypes || len(names) != NumVehicleTypes {
		t.Fatalf("VehicleTypes() has %d types", len(types))
	}
	seen := map[int]bool{}
	for i, typ := range types {
		if typ.String() != names[i] {
			t.Errorf("VehicleTypes()[%d] = %s, want %s", i, typ, names[i])
		}
		got, err := ParseVehicleType(typ.String())
		if err != nil || got != typ {
			t.Errorf("ParseVehicleType(%s) = %v, %v", typ, got, err)
		}
		if !typ.Valid() || typ.Index() < 0 || typ.Index() >= NumVehicleTypes || seen[typ.Index()] {
			t.Errorf("%s: Valid %v, Index %d", typ, typ.Valid(), typ.Index())
		}
		seen[typ.Index()] = true
		text, err := typ.MarshalText()
		if err != nil || string(text) != names[i] {
			t.Errorf("MarshalText(%s) = %s, %v", typ, text, err)
		}
		var back VehicleType
		if err := back.UnmarshalText(text); err != nil || back != typ {
			t.Errorf("UnmarshalText(%s) = %v, %v", text, back, err)
		}
		if app, err := typ.AppendText([]byte("x")); err != nil || string(app) != "x"+names[i] {
			t.Errorf("AppendText(%s) = %s, %v", typ, app, err)
		}
	}
	// A fresh copy each time.
	types[0] = Truck
	if VehicleTypes()[0] != Car {
		t.Error("VehicleTypes shares its backing array")
	}
}

func TestVehicleTypeInvalid(t *testing.T) {
	for _, s := range []string{"", "car", "Car", " CAR", "CAR ", "BIKE", "UNKNOWN(0)", "CAR\x00", strings.Repeat("X", 1000)} {
		typ, err := ParseVehicleType(s)
		if err == nil || typ != VehicleTypeUnknown || !errors.Is(err, ErrUnknownVehicleType) {
			t.Errorf("ParseVehicleType(%q) = %v, %v", s, typ, err)
		}
		if len(err.Error()) > 100 {
			t.Errorf("error text is %d bytes", len(err.Error()))
		}
		v := Car
		if err := v.UnmarshalText([]byte(s)); !errors.Is(err, ErrUnknownVehicleType) || v != Car {
			t.Errorf("UnmarshalText(%q) = %v, left %v", s, err, v)
		}
	}
	if _, err := ParseVehicleType("BIKE"); err.Error() != `unknown vehicle type "BIKE"` {
		t.Errorf("error text %q", err)
	}
	for _, typ := range []VehicleType{VehicleTypeUnknown, NumVehicleTypes + 1, 255} {
		if typ.Valid() || typ.Index() != -1 {
			t.Errorf("%d: Valid %v, Index %d", typ, typ.Valid(), typ.Index())
		}
		if _, err := typ.MarshalText(); !errors.Is(err, ErrUnknownVehicleType) {
			t.Errorf("MarshalText(%d) error = %v", typ, err)
		}
	}
	if s := VehicleType(7).String(); s != "UNKNOWN(7)" {
		t.Errorf("String() = %s", s)
	}
}

func TestValidate(t *testing.T) {
	ok := Vehicle{PlateNumber: "CA1234AB", VignetteStickerID: "v", Timestamp: time.UnixMilli(1763768705123).UTC(), VehicleType: Car}
	if err := ok.Validate(); err != nil {
		t.Fatalf("Validate(%+v) = %v", ok, err)
	}
	edges := []time.Time{
		time.UnixMilli(MinEventTime),
		time.UnixMilli(MaxEventTime),
		time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC),
		time.Date(0, 1, 1, 0, 0, 0, 0, time.FixedZone("x", -3600)), // 0000-01-01T01:00Z
		time.UnixMilli(ZeroTimeMillis + 1),
	}
	for _, ts := range edges {
		v := ok
		v.Timestamp = ts
		if err := v.Validate(); err != nil {
			t.Errorf("Validate(timestamp %v) = %v", ts, err)
		}
	}
	v := ok
	v.VignetteStickerID = ""
	if err := v.Validate(); err != nil {
		t.Errorf("empty vignette: %v", err)
	}
	tests := []struct {
		name  string
		mut   func(*Vehicle)
		field string
		is    error
		text  string
	}{
		{"empty plate", func(v *Vehicle) { v.PlateNumber = "" }, "plateNumber", ErrMissingField, "plateNumber: must not be empty"},
		{"plate not UTF-8", func(v *Vehicle) { v.PlateNumber = "\xff" }, "plateNumber", ErrInvalidUTF8, ""},
		{"vignette not UTF-8", func(v *Vehicle) { v.VignetteStickerID = "a\xc3" }, "vignetteStickerId", ErrInvalidUTF8, ""},
		{"zero time", func(v *Vehicle) { v.Timestamp = time.Time{} }, "timestamp", ErrMissingField, ""},
		{"zero time in another zone", func(v *Vehicle) { v.Timestamp = time.Time{}.In(time.FixedZone("x", 3600)) }, "timestamp", ErrMissingField, ""},
		{"zero time by millisecond", func(v *Vehicle) { v.Timestamp = time.UnixMilli(ZeroTimeMillis) }, "timestamp", ErrMissingField, ""},
		{"before year 0", func(v *Vehicle) { v.Timestamp = time.UnixMilli(MinEventTime - 1) }, "timestamp", ErrTimestampOutOfRange, "timestamp: time out of range"},
		{"year 10000", func(v *Vehicle) { v.Timestamp = time.UnixMilli(MaxEventTime + 1) }, "timestamp", ErrTimestampOutOfRange, ""},
		{"far future", func(v *Vehicle) { v.Timestamp = time.Date(1<<40, 1, 1, 0, 0, 0, 0, time.UTC) }, "timestamp", ErrTimestampOutOfRange, ""},
		{"far past", func(v *Vehicle) { v.Timestamp = time.Date(-1<<40, 1, 1, 0, 0, 0, 0, time.UTC) }, "timestamp", ErrTimestampOutOfRange, ""},
		{"unset type", func(v *Vehicle) { v.VehicleType = VehicleTypeUnknown }, "vehicleType", ErrMissingField, "vehicleType: required"},
		{"bad type", func(v *Vehicle) { v.VehicleType = 6 }, "vehicleType", ErrUnknownVehicleType, "vehicleType: unknown vehicle type UNKNOWN(6)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := ok
			tt.mut(&v)
			err := v.Validate()
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("Validate() = %v, want a *FieldError", err)
			}
			if fe.Field != tt.field || !errors.Is(err, tt.is) || !errors.Is(err, ErrInvalidVehicle) {
				t.Errorf("Validate() = %v (field %q), want field %q matching %v and ErrInvalidVehicle", err, fe.Field, tt.field, tt.is)
			}
			if tt.text != "" && err.Error() != tt.text {
				t.Errorf("Error() = %q, want %q", err, tt.text)
			}
		})
	}
}

func TestFieldErrorText(t *testing.T) {
	err := &FieldError{Field: "vehicleType", Reason: `unknown vehicle type "BIKE"`, Err: ErrUnknownVehicleType}
	if err.Error() != `vehicleType: unknown vehicle type "BIKE"` {
		t.Errorf("Error() = %q", err)
	}
	if !errors.Is(err, ErrUnknownVehicleType) || !errors.Is(err, ErrInvalidVehicle) || errors.Is(err, ErrMissingField) {
		t.Error("errors.Is does not follow Unwrap and Is")
	}
}

func TestEventTime(t *testing.T) {
	for _, tc := range []struct {
		t    time.Time
		want int64
	}{
		{time.Date(2026, 11, 21, 23, 45, 5, 123999999, time.UTC), 1795304705123},
		{time.Date(1969, 12, 31, 23, 59, 59, 999999999, time.UTC), -1},
		{time.Date(1969, 12, 31, 23, 59, 59, 1, time.UTC), -1000},
		{time.UnixMilli(MinEventTime), MinEventTime},
	} {
		if got := (Vehicle{Timestamp: tc.t}).EventTime(); got != tc.want {
			t.Errorf("EventTime(%v) = %d, want %d", tc.t, got, tc.want)
		}
		if tm := TimeFromMillis(tc.want); tm.UnixMilli() != tc.want || tm.Location() != time.UTC {
			t.Errorf("TimeFromMillis(%d) = %v", tc.want, tm)
		}
	}
}

func TestRangeConstants(t *testing.T) {
	if got := time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli(); got != MinEventTime {
		t.Errorf("MinEventTime = %d, want %d", MinEventTime, got)
	}
	if got := time.Date(9999, 12, 31, 23, 59, 59, 999e6, time.UTC).UnixMilli(); got != MaxEventTime {
		t.Errorf("MaxEventTime = %d, want %d", MaxEventTime, got)
	}
	if got := (time.Time{}).UnixMilli(); got != ZeroTimeMillis {
		t.Errorf("ZeroTimeMillis = %d, want %d", ZeroTimeMillis, got)
	}
}

func TestWindowStart(t *testing.T) {
	const w = 20000
	tests := []struct{ t, size, want int64 }{
		{0, w, 0},
		{1, w, 0},
		{19999, w, 0},
		{20000, w, 20000},
		{20001, w, 20000},
		{-1, w, -20000},
		{-19999, w, -20000},
		{-20000, w, -20000},
		{-20001, w, -40000},
		{1763768705123, w, 1763768700000},
		{1763768719999, w, 1763768700000},
		{1763768720000, w, 1763768720000},
		{MinEventTime, w, MinEventTime}, // divisible by 20 s
		{MaxEventTime, w, MaxEventTime - 19999},
		{MaxEventTime, 1, MaxEventTime},
		{-7, 3, -9},
		{7, 3, 6},
		{5, 1 << 62, 0},
		{-5, 1 << 62, -(1 << 62)},
	}
	for _, tt := range tests {
		if got := WindowStart(tt.t, tt.size); got != tt.want {
			t.Errorf("WindowStart(%d, %d) = %d, want %d", tt.t, tt.size, got, tt.want)
		}
		start, end := WindowBounds(tt.t, tt.size)
		if start != tt.want || end != tt.want+tt.size {
			t.Errorf("WindowBounds(%d, %d) = %d, %d", tt.t, tt.size, start, end)
		}
	}
}

// naiveWindowStart walks window by window from the epoch: slow and obvious.
func naiveWindowStart(t, size int64) int64 {
	s := int64(0)
	for s > t {
		s -= size
	}
	for s+size <= t {
		s += size
	}
	return s
}

func TestWindowStartProperty(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 11))
	for range 100000 {
		size := 1 + r.Int64N(1000)
		tm := r.Int64N(200000) - 100000
		got := WindowStart(tm, size)
		if want := naiveWindowStart(tm, size); got != want {
			t.Fatalf("WindowStart(%d, %d) = %d, want %d", tm, size, got, want)
		}
	}
	// Over the whole event-time range: the start is aligned, at or before t,
	// and less than a window before it.
	for range 100000 {
		size := 1 + r.Int64N(1e12)
		tm := MinEventTime + r.Int64N(MaxEventTime-MinEventTime+1)
		got := WindowStart(tm, size)
		if got > tm || tm-got >= size || got%size != 0 {
			t.Fatalf("WindowStart(%d, %d) = %d", tm, size, got)
		}
	}
}

func TestWindowStartPanicsOnBadSize(t *testing.T) {
	for _, size := range []int64{0, -1, -20000} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("WindowStart(1, %d) did not panic", size)
				}
			}()
			WindowStart(1, size)
		}()
	}
}

var sink int64

func BenchmarkWindowStart(b *testing.B) {
	b.ReportAllocs()
	t := int64(1763768705123)
	for b.Loop() {
		sink += WindowStart(t, 20000)
		t++
	}
}

func BenchmarkVehicleTypeString(b *testing.B) {
	b.ReportAllocs()
	n := 0
	for i := 0; b.Loop(); i++ {
		n += len(VehicleType(1 + i%NumVehicleTypes).String())
	}
	sink += int64(n)
}

func BenchmarkParseVehicleType(b *testing.B) {
	b.ReportAllocs()
	names := []string{"CAR", "TRUCK", "BUS", "VAN", "MOTORCYCLE"}
	for i := 0; b.Loop(); i++ {
		t, err := ParseVehicleType(names[i%len(names)])
		if err != nil {
			b.Fatal(err)
		}
		sink += int64(t)
	}
}

func BenchmarkValidate(b *testing.B) {
	b.ReportAllocs()
	v := Vehicle{PlateNumber: "CA1234AB", VignetteStickerID: "5f0c6c1e-5a9d-4a8e-9a55-0f7a5c0e8f11", Timestamp: time.UnixMilli(1763768705123).UTC(), VehicleType: Car}
	for b.Loop() {
		if err := v.Validate(); err != nil {
			b.Fatal(err)
		}
	}
}
