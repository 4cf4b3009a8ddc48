package serde

import (
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/bytedance/sonic"
	gojson "github.com/goccy/go-json"
)

// The hand-written scanner measured against maintained JSON libraries, each
// decoding the same records into the same VehicleEvent with the same field
// rules (eventFromFields). What each library checks beyond that, by
// default, differs, and is said next to it: only encoding/json/v2 (built
// with GOEXPERIMENT=jsonv2, jsonv2_bench_test.go) also refuses duplicate
// keys and invalid UTF-8 as the scanner does; the others are measured doing
// less work than the scanner.

// libVehicle is a Vehicle as a JSON library reads it: the timestamp kept raw
// (R is the library's raw value type), since it may be a string or a
// number.
type libVehicle[R ~[]byte] struct {
	PlateNumber       string  `json:"plateNumber"`
	VignetteStickerID *string `json:"vignetteStickerId"`
	Timestamp         R       `json:"timestamp"`
	VehicleType       string  `json:"vehicleType"`
}

var errLib = errors.New("invalid vehicle")

// eventFromFields applies the contract's field rules to what a library
// read, with the scanner's own timestamp parsers, so every decoder is held
// to the same rules and returns the same event.
func eventFromFields(plate string, ts []byte, typ string) (VehicleEvent, error) {
	if plate == "" || len(ts) == 0 || string(ts) == "null" {
		return VehicleEvent{}, errLib
	}
	var ms int64
	if ts[0] == '"' {
		text := ts[1 : len(ts)-1]
		for _, c := range text {
			if c == '\\' { // rare: let strconv undo the escapes
				u, err := strconv.Unquote(string(ts))
				if err != nil {
					return VehicleEvent{}, errLib
				}
				text = []byte(u)
				break
			}
		}
		var sentinel error
		if ms, _, sentinel = parseRFC3339(text); sentinel != nil {
			return VehicleEvent{}, errLib
		}
	} else {
		s := scanner{data: ts, record: "vehicle"}
		var n number
		var ok bool
		if s.scanNumber(0, &n) != len(ts) {
			return VehicleEvent{}, errLib
		}
		if ms, ok = n.millis(ts); !ok {
			return VehicleEvent{}, errLib
		}
	}
	t, ok := lookupType([]byte(typ))
	if !ok {
		return VehicleEvent{}, errLib
	}
	return VehicleEvent{Type: t, EventTime: ms}, nil
}

// libDecoder decodes one record to a VehicleEvent through a library.
type libDecoder struct {
	name string
	// checks is what the library refuses by default beyond the field
	// rules, for the reader of the figures.
	checks string
	decode func([]byte) (VehicleEvent, error)
}

// viaLibrary decodes with a library's Unmarshal into a libVehicle[R], then
// applies the field rules.
func viaLibrary[R ~[]byte](unmarshal func([]byte, any) error) func([]byte) (VehicleEvent, error) {
	return func(b []byte) (VehicleEvent, error) {
		var v libVehicle[R]
		if err := unmarshal(b, &v); err != nil {
			return VehicleEvent{}, err
		}
		return eventFromFields(v.PlateNumber, []byte(v.Timestamp), v.VehicleType)
	}
}

var libDecoders = []libDecoder{
	{"serde", "syntax, UTF-8, duplicate keys", DecodeVehicleEvent},
	{"encoding-json", "syntax (invalid UTF-8 replaced, duplicates: last wins)", viaLibrary[json.RawMessage](json.Unmarshal)},
	{"goccy-go-json", "syntax (duplicates: last wins)", viaLibrary[json.RawMessage](gojson.Unmarshal)},
	{"sonic", "syntax, UTF-8 (ValidateString; duplicates: last wins)", viaLibrary[json.RawMessage](sonicValidating.Unmarshal)},
}

var sonicValidating = sonic.Config{ValidateString: true}.Froze()

// TestLibDecodersAgree makes sure the benchmark compares like with like:
// every library path returns the scanner's event for the benchmark records
// and refuses what breaks a field rule.
func TestLibDecodersAgree(t *testing.T) {
	for _, d := range libDecoders {
		for _, rec := range [][]byte{benchVehicle, benchVehicleJackson} {
			want, _ := DecodeVehicleEvent(rec)
			if got, err := d.decode(rec); err != nil || got != want {
				t.Errorf("%s: %s: %+v, %v; want %+v", d.name, rec, got, err, want)
			}
		}
		for _, bad := range []string{
			`{"plateNumber":"","timestamp":"2026-11-21T23:45:05Z","vehicleType":"CAR"}`,
			`{"plateNumber":"CA1","timestamp":"yesterday","vehicleType":"CAR"}`,
			`{"plateNumber":"CA1","timestamp":1e400,"vehicleType":"CAR"}`,
			`{"plateNumber":"CA1","timestamp":1629123456,"vehicleType":"BIKE"}`,
			`{"plateNumber":"CA1","vehicleType":"CAR"}`,
			`not json`,
		} {
			if _, err := d.decode([]byte(bad)); err == nil {
				t.Errorf("%s accepts %s", d.name, bad)
			}
		}
		// Those that say they refuse duplicate keys do.
		dup := `{"plateNumber":"CA1","plateNumber":"CA2","timestamp":1629123456,"vehicleType":"CAR"}`
		if _, err := d.decode([]byte(dup)); (err != nil) != strings.Contains(d.checks, "duplicate keys") {
			t.Errorf("%s (%s) on a duplicate key: %v", d.name, d.checks, err)
		}
	}
}

// BenchmarkDecodeLibraries decodes the contract's example record (RFC 3339
// timestamp) and its Jackson form (epoch seconds) with each library.
func BenchmarkDecodeLibraries(b *testing.B) {
	for _, d := range libDecoders {
		for _, rec := range []struct {
			form string
			data []byte
		}{{"rfc3339", benchVehicle}, {"jackson", benchVehicleJackson}} {
			b.Run(d.name+"/"+rec.form, func(b *testing.B) {
				b.ReportAllocs()
				b.SetBytes(int64(len(rec.data)))
				for b.Loop() {
					ev, err := d.decode(rec.data)
					if err != nil {
						b.Fatal(err)
					}
					sinkEvent = ev
				}
			})
		}
	}
}
