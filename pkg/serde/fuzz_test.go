package serde

import (
	"encoding/json"
	"errors"
	"math/big"
	"regexp"
	"testing"
	"time"

	"github.com/vehicle-stats/vehicle-stats/pkg/model"
)

// Seeds shared by the fuzz targets, on top of testdata/fuzz/<FuzzName>.
var fuzzSeeds = []string{
	string(benchVehicle),
	string(benchVehicleJackson),
	`{"plateNumber":"P","timestamp":-62167219200,"vehicleType":"MOTORCYCLE","x":[{"a":null},true,-0.5e-3]}`,
	`{"plateNumber":"A\"\\\/\b\f\n\r\t\u00e9\ud83d\ude97","vignetteStickerId":null,"timestamp":"0000-01-01T00:00:00.000000001+00:00","vehicleType":"\u0042US"}`,
	`{"plateNumber":"P","plateNumber":"P","timestamp":1e11,"vehicleType":"VAN"}`,
	`{"start":"2026-11-21T23:45:00.000Z","end":"2026-11-21T23:45:20.000Z","vehicleType":"CAR","count":42}`,
	`{"x":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}`,
	`[]`, ``, `{`, `{"plateNumber":"P\ud83d","timestamp":0,"vehicleType":"CAR"}`,
}

// The JSON number grammar; the oracle below only checks numbers it matches.
var jsonNumber = regexp.MustCompile(`^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?$`)

// oracleMillis computes a timestamp's event time the slow, obvious way:
// time.Parse for strings, exact rational arithmetic for numbers. ok is false
// when it has no opinion (an exponent too large to compute cheaply).
func oracleMillis(raw json.RawMessage) (ms int64, valid, ok bool) {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return 0, false, true
		}
		if y := t.UTC().Year(); y < 0 || y > 9999 {
			return 0, false, true
		}
		return t.UnixMilli(), true, true
	}
	if len(raw) > 60 || !jsonNumber.Match(raw) {
		return 0, false, false
	}
	r, okr := new(big.Rat).SetString(string(raw))
	if !okr {
		return 0, false, false
	}
	if r.Cmp(big.NewRat(1e11, 1)) < 0 {
		r.Mul(r, big.NewRat(1000, 1))
	}
	// floor(r)
	q := new(big.Int).Div(r.Num(), r.Denom()) // Euclidean: floors for a positive denominator
	if !q.IsInt64() {
		return 0, false, true
	}
	v := q.Int64()
	return v, v >= model.MinEventTime && v <= model.MaxEventTime, true
}

// checkVehicleDecoder is the property the vehicle fuzz target checks.
func checkVehicleDecoder(t *testing.T, data []byte) {
	ev, err := DecodeVehicleEvent(data)
	if err != nil {
		if !errors.Is(err, ErrInvalidRecord) {
			t.Fatalf("error %v does not match ErrInvalidRecord", err)
		}
		var de *DecodeError
		if !errors.As(err, &de) || de.Reason == "" {
			t.Fatalf("error %v is not a *DecodeError with a reason", err)
		}
		// Exactly one class: bad syntax, too deep, not an object, bad field.
		classes := 0
		for _, c := range []bool{
			errors.Is(err, ErrMalformedJSON),
			errors.Is(err, ErrTooDeep),
			errors.Is(err, ErrWrongType) && de.Field == "",
			errors.Is(err, model.ErrInvalidVehicle),
		} {
			if c {
				classes++
			}
		}
		if classes != 1 {
			t.Fatalf("error %v is in %d classes", err, classes)
		}
		return
	}
	if !json.Valid(data) {
		t.Fatalf("accepted %q, which encoding/json finds invalid", data)
	}
	v := model.Vehicle{Timestamp: model.TimeFromMillis(ev.EventTime), VehicleType: ev.Type}
	v.PlateNumber, v.VignetteStickerID = vehicleStrings(t, data)
	if err := v.Validate(); err != nil {
		t.Fatalf("decoded an invalid vehicle from %q: %v", data, err)
	}
	// encoding/json into a map has exact, case-sensitive keys; duplicates of
	// the known keys are rejected above, so it must see the same values.
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatalf("accepted %q, which encoding/json cannot decode: %v", data, err)
	}
	var plate, vignette, typ string
	if json.Unmarshal(m["plateNumber"], &plate) != nil || plate != v.PlateNumber {
		t.Fatalf("plateNumber of %q: %q, encoding/json says %s", data, v.PlateNumber, m["plateNumber"])
	}
	if raw, ok := m["vignetteStickerId"]; ok && (json.Unmarshal(raw, &vignette) != nil || vignette != v.VignetteStickerID) {
		t.Fatalf("vignetteStickerId of %q: %q, encoding/json says %s", data, v.VignetteStickerID, raw)
	}
	if json.Unmarshal(m["vehicleType"], &typ) != nil || typ != v.VehicleType.String() {
		t.Fatalf("vehicleType of %q: %v, encoding/json says %s", data, v.VehicleType, m["vehicleType"])
	}
	if want, valid, ok := oracleMillis(m["timestamp"]); ok && (!valid || want != ev.EventTime) {
		t.Fatalf("timestamp %s: event time %d, oracle says %d (valid %v)", m["timestamp"], ev.EventTime, want, valid)
	}
	// And what we accept survives our own encoder.
	out := AppendVehicle(nil, v)
	back, err := DecodeVehicleEvent(out)
	if plate, vignette := vehicleStrings(t, out); err != nil || back != ev || plate != v.PlateNumber || vignette != v.VignetteStickerID {
		t.Fatalf("re-decode %s: %+v, %v; want %+v", out, back, err, v)
	}
}

func FuzzDecodeVehicleEvent(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ev, err := DecodeVehicleEvent(data)
		if err == nil && (!ev.Type.Valid() || ev.EventTime < model.MinEventTime || ev.EventTime > model.MaxEventTime) {
			t.Fatalf("accepted %q as %+v", data, ev)
		}
		checkVehicleDecoder(t, data)
	})
}

func FuzzStatisticsCodecDecode(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := StatisticsCodec{}.Decode(data)
		if err != nil {
			if !errors.Is(err, ErrInvalidRecord) {
				t.Fatalf("error %v does not match ErrInvalidRecord", err)
			}
			if errors.Is(err, model.ErrInvalidVehicle) {
				t.Fatalf("statistics error %v matches model.ErrInvalidVehicle", err)
			}
			// Same syntax rules as the vehicle decoders.
			if errors.Is(err, ErrMalformedJSON) || errors.Is(err, ErrTooDeep) {
				if _, verr := DecodeVehicleEvent(data); verr == nil || verr.(*DecodeError).Err != err.(*DecodeError).Err {
					t.Fatalf("statistics decoder says %v, vehicle decoder says %v", err, verr)
				}
			}
			return
		}
		if !json.Valid(data) {
			t.Fatalf("accepted %q, which encoding/json finds invalid", data)
		}
		if !s.VehicleType.Valid() || s.Count < 0 || !s.End.After(s.Start) {
			t.Fatalf("accepted %q as %+v", data, s)
		}
		out := AppendStatistics(nil, s)
		back, err := StatisticsCodec{}.Decode(out)
		if err != nil || back != s {
			t.Fatalf("re-decode %s: %+v, %v; want %+v", out, back, err, s)
		}
	})
}
