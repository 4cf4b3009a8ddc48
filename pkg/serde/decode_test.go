package serde

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/vehicle-stats/vehicle-stats/pkg/model"
)

// rec builds a vehicle record with the given timestamp JSON and type JSON.
func rec(ts, typ string) string {
	return `{"plateNumber":"CA1234AB","vignetteStickerId":"5f0c6c1e-5a9d-4a8e-9a55-0f7a5c0e8f11","timestamp":` + ts + `,"vehicleType":` + typ + `}`
}

func ms(s string) int64 {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t.UnixMilli()
}

// decodeVehicle reads a record as the processor does (DecodeVehicleEvent),
// checks the shape of its error, and for a valid record adds the strings
// (encoding/json, by exact key) to give the whole Vehicle.
func decodeVehicle(t *testing.T, data []byte) (model.Vehicle, error) {
	t.Helper()
	ev, err := DecodeVehicleEvent(data)
	if err != nil {
		if !errors.Is(err, ErrInvalidRecord) {
			t.Errorf("error %v does not match ErrInvalidRecord", err)
		}
		var de *DecodeError
		if !errors.As(err, &de) {
			t.Errorf("error %v is not a *DecodeError", err)
		}
		return model.Vehicle{}, err
	}
	v := model.Vehicle{Timestamp: model.TimeFromMillis(ev.EventTime), VehicleType: ev.Type}
	v.PlateNumber, v.VignetteStickerID = vehicleStrings(t, data)
	return v, nil
}

// vehicleStrings reads plate and vignette of a valid record with
// encoding/json, by their exact keys.
func vehicleStrings(t testing.TB, data []byte) (plate, vignette string) {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatalf("accepted %q, which encoding/json cannot decode: %v", data, err)
	}
	if err := json.Unmarshal(m["plateNumber"], &plate); err != nil {
		t.Fatalf("plateNumber of %q: %v", data, err)
	}
	if raw, ok := m["vignetteStickerId"]; ok && string(raw) != "null" {
		if err := json.Unmarshal(raw, &vignette); err != nil {
			t.Fatalf("vignetteStickerId of %q: %v", data, err)
		}
	}
	return plate, vignette
}

func TestDecodeTimestampForms(t *testing.T) {
	base := ms("2026-11-21T23:45:05.123Z")
	tests := []struct {
		name string
		ts   string
		want int64
	}{
		{"rfc3339 millis", `"2026-11-21T23:45:05.123Z"`, base},
		{"rfc3339 no fraction", `"2026-11-21T23:45:05Z"`, base - 123},
		{"rfc3339 one digit", `"2026-11-21T23:45:05.1Z"`, base - 23},
		{"rfc3339 two digits", `"2026-11-21T23:45:05.12Z"`, base - 3},
		{"rfc3339 nanos", `"2026-11-21T23:45:05.123999999Z"`, base},
		{"rfc3339 many digits", `"2026-11-21T23:45:05.12399999999999999999999Z"`, base},
		{"rfc3339 positive offset", `"2026-11-22T01:45:05.123+02:00"`, base},
		{"rfc3339 negative offset", `"2026-11-21T18:15:05.123-05:30"`, base},
		{"rfc3339 -00:00", `"2026-11-21T23:45:05.123-00:00"`, base},
		{"rfc3339 escaped", `"2026-11-21T23:45:05.123\u005a"`, base},
		{"rfc3339 leap day", `"2024-02-29T00:00:00Z"`, ms("2024-02-29T00:00:00Z")},
		{"rfc3339 year 2000 leap", `"2000-02-29T12:00:00Z"`, ms("2000-02-29T12:00:00Z")},
		{"rfc3339 min", `"0000-01-01T00:00:00Z"`, model.MinEventTime},
		{"rfc3339 max", `"9999-12-31T23:59:59.999999Z"`, model.MaxEventTime},
		{"rfc3339 max by offset", `"9999-12-31T22:59:59.999-01:00"`, model.MaxEventTime},
		{"rfc3339 before epoch", `"1969-12-31T23:59:59.999Z"`, -1},
		{"seconds integer", `1629123456`, 1629123456000},
		{"seconds jackson nanos", `1629123456.123456789`, 1629123456123},
		{"seconds .999999999", `1629123456.999999999`, 1629123456999},
		{"seconds exponent", `1.6e9`, 1600000000000},
		{"seconds exponent fraction", `1.629123456123e9`, 1629123456123},
		{"seconds exponent E+", `16291234561E-1`, 1629123456100},
		{"seconds zero", `0`, 0},
		{"seconds negative zero", `-0`, 0},
		{"seconds 0.0001", `0.0001`, 0},
		{"seconds tiny exponent", `1e-400`, 0},
		{"seconds negative", `-1`, -1000},
		{"seconds negative fraction floors", `-0.0001`, -1},
		{"seconds negative fraction", `-1.5`, -1500},
		{"seconds negative 1.0005", `-1.0005`, -1001},
		{"seconds negative tiny", `-1e-400`, -1},
		{"seconds min", `-62167219200`, model.MinEventTime},
		{"seconds just below 1e11", `99999999999.9999`, 99999999999999},
		{"millis 1e11", `1e11`, 100000000000},
		{"millis 100000000000", `100000000000`, 100000000000},
		{"millis typical", `1763768705123`, 1763768705123},
		{"millis fraction truncated", `1763768705123.999`, 1763768705123},
		{"millis exponent", `1.763768705123e12`, 1763768705123},
		{"millis max", `253402300799999`, model.MaxEventTime},
		{"millis max fraction", `253402300799999.9999`, model.MaxEventTime},
		{"leading zero fraction", `0.5e1`, 5000},
		{"exponent leading zeros", `1e0009`, 1000000000000},
		{"big exponent with small mantissa", `0.00000000000000000001e29`, 1000000000000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := decodeVehicle(t, []byte(rec(tt.ts, `"CAR"`)))
			if err != nil {
				t.Fatalf("decode %s: %v", tt.ts, err)
			}
			if got := v.EventTime(); got != tt.want {
				t.Errorf("decode %s: event time %d (%s), want %d (%s)", tt.ts, got,
					model.TimeFromMillis(got).Format(time.RFC3339Nano), tt.want, model.TimeFromMillis(tt.want).Format(time.RFC3339Nano))
			}
		})
	}
}

func TestDecodeVehicleValid(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want model.Vehicle
	}{
		{"contract example", `{"plateNumber":"CA1234AB","vignetteStickerId":"5f0c6c1e-5a9d-4a8e-9a55-0f7a5c0e8f11","timestamp":"2026-11-21T23:45:05.123Z","vehicleType":"CAR"}`,
			model.Vehicle{PlateNumber: "CA1234AB", VignetteStickerID: "5f0c6c1e-5a9d-4a8e-9a55-0f7a5c0e8f11", Timestamp: model.TimeFromMillis(ms("2026-11-21T23:45:05.123Z")), VehicleType: model.Car}},
		{"whitespace, order, unknown fields", " \t\r\n{ \"vehicleType\" : \"TRUCK\" , \"x\":{\"a\":[1,2.5e3,true,false,null,{}],\"b\":[]}, \"timestamp\":0 ,\"plateNumber\":\"P\" } \n",
			model.Vehicle{PlateNumber: "P", Timestamp: model.TimeFromMillis(0), VehicleType: model.Truck}},
		{"vignette absent", `{"plateNumber":"P","timestamp":0,"vehicleType":"BUS"}`,
			model.Vehicle{PlateNumber: "P", Timestamp: model.TimeFromMillis(0), VehicleType: model.Bus}},
		{"vignette null", `{"plateNumber":"P","vignetteStickerId":null,"timestamp":0,"vehicleType":"VAN"}`,
			model.Vehicle{PlateNumber: "P", Timestamp: model.TimeFromMillis(0), VehicleType: model.Van}},
		{"vignette empty", `{"plateNumber":"P","vignetteStickerId":"","timestamp":0,"vehicleType":"MOTORCYCLE"}`,
			model.Vehicle{PlateNumber: "P", Timestamp: model.TimeFromMillis(0), VehicleType: model.Motorcycle}},
		{"escapes", `{"plateNumber":"A\"\\\/\b\f\n\r\t\u00e9\u20AC\ud83d\ude97Z","vignetteStickerId":"\u0000x","timestamp":0,"vehicleType":"\u0043AR"}`,
			model.Vehicle{PlateNumber: "A\"\\/\b\f\n\r\té€🚗Z", VignetteStickerID: "\x00x", Timestamp: model.TimeFromMillis(0), VehicleType: model.Car}},
		{"raw UTF-8", `{"plateNumber":"СА1234АВ €🚗","timestamp":0,"vehicleType":"CAR"}`,
			model.Vehicle{PlateNumber: "СА1234АВ €🚗", Timestamp: model.TimeFromMillis(0), VehicleType: model.Car}},
		{"escaped keys", `{"plate\u004eumber":"P","\u0074imestamp":0,"vehicleTyp\u0065":"CAR"}`,
			model.Vehicle{PlateNumber: "P", Timestamp: model.TimeFromMillis(0), VehicleType: model.Car}},
		{"keys differing in case are unknown", `{"plateNumber":"P","PlateNumber":5,"timestamp":0,"vehicleType":"CAR","VehicleType":"BIKE"}`,
			model.Vehicle{PlateNumber: "P", Timestamp: model.TimeFromMillis(0), VehicleType: model.Car}},
		{"repeated unknown keys", `{"x":1,"x":2,"plateNumber":"P","timestamp":0,"vehicleType":"CAR"}`,
			model.Vehicle{PlateNumber: "P", Timestamp: model.TimeFromMillis(0), VehicleType: model.Car}},
		{"nesting at the limit", `{"x":` + strings.Repeat("[", MaxDepth-1) + strings.Repeat("]", MaxDepth-1) + `,"plateNumber":"P","timestamp":0,"vehicleType":"CAR"}`,
			model.Vehicle{PlateNumber: "P", Timestamp: model.TimeFromMillis(0), VehicleType: model.Car}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decodeVehicle(t, []byte(tt.in))
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if got != tt.want {
				t.Errorf("decode = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestDecodeVehicleInvalid(t *testing.T) {
	const ok = `{"plateNumber":"P","timestamp":0,"vehicleType":"CAR"}`
	tests := []struct {
		name  string
		in    string
		is    []error // every one must match
		field string
	}{
		{"empty input", ``, []error{ErrMalformedJSON}, ""},
		{"whitespace only", " \n", []error{ErrMalformedJSON}, ""},
		{"top-level array", `[1]`, []error{ErrWrongType}, ""},
		{"top-level string", `"x"`, []error{ErrWrongType}, ""},
		{"top-level null", `null`, []error{ErrWrongType}, ""},
		{"top-level number", `12`, []error{ErrWrongType}, ""},
		{"top-level garbage", `x`, []error{ErrMalformedJSON}, ""},
		{"truncated", ok[:len(ok)-1], []error{ErrMalformedJSON}, ""},
		{"trailing garbage", ok + `x`, []error{ErrMalformedJSON}, ""},
		{"two objects", ok + ok, []error{ErrMalformedJSON}, ""},
		{"trailing comma", `{"plateNumber":"P","timestamp":0,"vehicleType":"CAR",}`, []error{ErrMalformedJSON}, ""},
		{"missing colon", `{"plateNumber" "P","timestamp":0,"vehicleType":"CAR"}`, []error{ErrMalformedJSON}, ""},
		{"unquoted key", `{plateNumber:"P","timestamp":0,"vehicleType":"CAR"}`, []error{ErrMalformedJSON}, ""},
		{"single quotes", `{'plateNumber':'P','timestamp':0,'vehicleType':'CAR'}`, []error{ErrMalformedJSON}, ""},
		{"NUL after object", ok + "\x00", []error{ErrMalformedJSON}, ""},
		{"missing plate", `{"timestamp":0,"vehicleType":"CAR"}`, []error{model.ErrMissingField, model.ErrInvalidVehicle}, "plateNumber"},
		{"null plate", `{"plateNumber":null,"timestamp":0,"vehicleType":"CAR"}`, []error{model.ErrMissingField, model.ErrInvalidVehicle}, "plateNumber"},
		{"empty plate", `{"plateNumber":"","timestamp":0,"vehicleType":"CAR"}`, []error{model.ErrMissingField, model.ErrInvalidVehicle}, "plateNumber"},
		{"missing timestamp", `{"plateNumber":"P","vehicleType":"CAR"}`, []error{model.ErrMissingField}, "timestamp"},
		{"null timestamp", `{"plateNumber":"P","timestamp":null,"vehicleType":"CAR"}`, []error{model.ErrMissingField}, "timestamp"},
		{"missing type", `{"plateNumber":"P","timestamp":0}`, []error{model.ErrMissingField}, "vehicleType"},
		{"null type", `{"plateNumber":"P","timestamp":0,"vehicleType":null}`, []error{model.ErrMissingField}, "vehicleType"},
		{"empty object", `{}`, []error{model.ErrMissingField}, "plateNumber"},
		{"zero time", rec(`"0001-01-01T00:00:00Z"`, `"CAR"`), []error{model.ErrMissingField}, "timestamp"},
		{"plate number type", `{"plateNumber":12,"timestamp":0,"vehicleType":"CAR"}`, []error{ErrWrongType, model.ErrInvalidVehicle}, "plateNumber"},
		{"plate bool type", `{"plateNumber":true,"timestamp":0,"vehicleType":"CAR"}`, []error{ErrWrongType}, "plateNumber"},
		{"vignette object type", `{"plateNumber":"P","vignetteStickerId":{},"timestamp":0,"vehicleType":"CAR"}`, []error{ErrWrongType}, "vignetteStickerId"},
		{"timestamp array", rec(`[1]`, `"CAR"`), []error{ErrWrongType}, "timestamp"},
		{"timestamp bool", rec(`false`, `"CAR"`), []error{ErrWrongType}, "timestamp"},
		{"type number", rec(`0`, `1`), []error{ErrWrongType}, "vehicleType"},
		{"type array", rec(`0`, `["CAR"]`), []error{ErrWrongType}, "vehicleType"},
		{"unknown type", rec(`0`, `"BIKE"`), []error{model.ErrUnknownVehicleType, model.ErrInvalidVehicle}, "vehicleType"},
		{"lower-case type", rec(`0`, `"car"`), []error{model.ErrUnknownVehicleType}, "vehicleType"},
		{"padded type", rec(`0`, `" CAR"`), []error{model.ErrUnknownVehicleType}, "vehicleType"},
		{"empty type", rec(`0`, `""`), []error{model.ErrUnknownVehicleType}, "vehicleType"},
		{"duplicate plate", `{"plateNumber":"P","plateNumber":"Q","timestamp":0,"vehicleType":"CAR"}`, []error{ErrDuplicateKey, model.ErrInvalidVehicle}, "plateNumber"},
		{"duplicate escaped", `{"plateNumber":"P","plate\u004eumber":"P","timestamp":0,"vehicleType":"CAR"}`, []error{ErrDuplicateKey}, "plateNumber"},
		{"duplicate null", `{"plateNumber":"P","timestamp":0,"vehicleType":"CAR","vignetteStickerId":null,"vignetteStickerId":"x"}`, []error{ErrDuplicateKey}, "vignetteStickerId"},
		{"duplicate type", `{"plateNumber":"P","timestamp":0,"vehicleType":"CAR","vehicleType":"CAR"}`, []error{ErrDuplicateKey}, "vehicleType"},
		{"seconds below range", rec(`-62167219200.001`, `"CAR"`), []error{model.ErrTimestampOutOfRange}, "timestamp"},
		{"negative millis are seconds", rec(`-62167219200000`, `"CAR"`), []error{model.ErrTimestampOutOfRange}, "timestamp"},
		{"millis above range", rec(`253402300800000`, `"CAR"`), []error{model.ErrTimestampOutOfRange}, "timestamp"},
		{"huge number", rec(`1e400`, `"CAR"`), []error{model.ErrTimestampOutOfRange}, "timestamp"},
		{"huge negative", rec(`-1e400`, `"CAR"`), []error{model.ErrTimestampOutOfRange}, "timestamp"},
		{"many digits", rec(strings.Repeat("9", 400), `"CAR"`), []error{model.ErrTimestampOutOfRange}, "timestamp"},
		{"rfc3339 year 10000", rec(`"9999-12-31T23:59:59.999-00:01"`, `"CAR"`), []error{model.ErrTimestampOutOfRange}, "timestamp"},
		{"rfc3339 before year 0", rec(`"0000-01-01T00:00:00+00:01"`, `"CAR"`), []error{model.ErrTimestampOutOfRange}, "timestamp"},
		{"NaN", rec(`NaN`, `"CAR"`), []error{ErrMalformedJSON}, ""},
		{"Infinity", rec(`Infinity`, `"CAR"`), []error{ErrMalformedJSON}, ""},
		{"-Infinity", rec(`-Infinity`, `"CAR"`), []error{ErrMalformedJSON}, ""},
		{"NaN string", rec(`"NaN"`, `"CAR"`), []error{ErrInvalidTimestamp, model.ErrInvalidVehicle}, "timestamp"},
		{"hex", rec(`0x10`, `"CAR"`), []error{ErrMalformedJSON}, ""},
		{"leading zero", rec(`01`, `"CAR"`), []error{ErrMalformedJSON}, ""},
		{"plus sign", rec(`+1`, `"CAR"`), []error{ErrMalformedJSON}, ""},
		{"trailing dot", rec(`1.`, `"CAR"`), []error{ErrMalformedJSON}, ""},
		{"leading dot", rec(`.5`, `"CAR"`), []error{ErrMalformedJSON}, ""},
		{"bare exponent", rec(`1e`, `"CAR"`), []error{ErrMalformedJSON}, ""},
		{"minus only", rec(`-`, `"CAR"`), []error{ErrMalformedJSON}, ""},
		{"bad literal", rec(`nul`, `"CAR"`), []error{ErrMalformedJSON}, ""},
		{"rfc3339 lower-case t", rec(`"2026-11-21t23:45:05Z"`, `"CAR"`), []error{ErrInvalidTimestamp}, "timestamp"},
		{"rfc3339 lower-case z", rec(`"2026-11-21T23:45:05z"`, `"CAR"`), []error{ErrInvalidTimestamp}, "timestamp"},
		{"rfc3339 space", rec(`"2026-11-21 23:45:05Z"`, `"CAR"`), []error{ErrInvalidTimestamp}, "timestamp"},
		{"rfc3339 no zone", rec(`"2026-11-21T23:45:05"`, `"CAR"`), []error{ErrInvalidTimestamp}, "timestamp"},
		{"rfc3339 comma", rec(`"2026-11-21T23:45:05,123Z"`, `"CAR"`), []error{ErrInvalidTimestamp}, "timestamp"},
		{"rfc3339 empty fraction", rec(`"2026-11-21T23:45:05.Z"`, `"CAR"`), []error{ErrInvalidTimestamp}, "timestamp"},
		{"rfc3339 Feb 29 non-leap", rec(`"2026-02-29T00:00:00Z"`, `"CAR"`), []error{ErrInvalidTimestamp}, "timestamp"},
		{"rfc3339 1900-02-29", rec(`"1900-02-29T00:00:00Z"`, `"CAR"`), []error{ErrInvalidTimestamp}, "timestamp"},
		{"rfc3339 hour 24", rec(`"2026-11-21T24:00:00Z"`, `"CAR"`), []error{ErrInvalidTimestamp}, "timestamp"},
		{"rfc3339 leap second", rec(`"2016-12-31T23:59:60Z"`, `"CAR"`), []error{ErrInvalidTimestamp}, "timestamp"},
		{"rfc3339 month 13", rec(`"2026-13-01T00:00:00Z"`, `"CAR"`), []error{ErrInvalidTimestamp}, "timestamp"},
		{"rfc3339 day 0", rec(`"2026-11-00T00:00:00Z"`, `"CAR"`), []error{ErrInvalidTimestamp}, "timestamp"},
		{"rfc3339 offset 24h", rec(`"2026-11-21T23:45:05+24:00"`, `"CAR"`), []error{ErrInvalidTimestamp}, "timestamp"},
		{"rfc3339 offset no colon", rec(`"2026-11-21T23:45:05+0200"`, `"CAR"`), []error{ErrInvalidTimestamp}, "timestamp"},
		{"rfc3339 5-digit year", rec(`"10000-01-01T00:00:00Z"`, `"CAR"`), []error{ErrInvalidTimestamp}, "timestamp"},
		{"rfc3339 negative year", rec(`"-0001-01-01T00:00:00Z"`, `"CAR"`), []error{ErrInvalidTimestamp}, "timestamp"},
		{"rfc3339 trailing", rec(`"2026-11-21T23:45:05Zx"`, `"CAR"`), []error{ErrInvalidTimestamp}, "timestamp"},
		{"rfc3339 unicode digit", rec(`"２026-11-21T23:45:05Z"`, `"CAR"`), []error{ErrInvalidTimestamp}, "timestamp"},
		{"date only", rec(`"2026-11-21"`, `"CAR"`), []error{ErrInvalidTimestamp}, "timestamp"},
		{"invalid UTF-8 in plate", "{\"plateNumber\":\"P\xff\",\"timestamp\":0,\"vehicleType\":\"CAR\"}", []error{ErrMalformedJSON}, ""},
		{"invalid UTF-8 in unknown", "{\"x\":\"\xc3\x28\",\"plateNumber\":\"P\",\"timestamp\":0,\"vehicleType\":\"CAR\"}", []error{ErrMalformedJSON}, ""},
		{"invalid UTF-8 in key", "{\"\xe2\x82\":1,\"plateNumber\":\"P\",\"timestamp\":0,\"vehicleType\":\"CAR\"}", []error{ErrMalformedJSON}, ""},
		{"overlong UTF-8", "{\"plateNumber\":\"\xc0\xaf\",\"timestamp\":0,\"vehicleType\":\"CAR\"}", []error{ErrMalformedJSON}, ""},
		{"UTF-8 surrogate", "{\"plateNumber\":\"\xed\xa0\x80\",\"timestamp\":0,\"vehicleType\":\"CAR\"}", []error{ErrMalformedJSON}, ""},
		{"invalid UTF-8 outside strings", "{\"plateNumber\":\"P\",\"timestamp\":0,\"vehicleType\":\"CAR\"}\xff", []error{ErrMalformedJSON}, ""},
		{"control char in string", "{\"plateNumber\":\"P\n\",\"timestamp\":0,\"vehicleType\":\"CAR\"}", []error{ErrMalformedJSON}, ""},
		{"invalid escape", `{"plateNumber":"P\x","timestamp":0,"vehicleType":"CAR"}`, []error{ErrMalformedJSON}, ""},
		{"short unicode escape", `{"plateNumber":"P\u12","timestamp":0,"vehicleType":"CAR"}`, []error{ErrMalformedJSON}, ""},
		{"lone high surrogate", `{"plateNumber":"P\ud83d","timestamp":0,"vehicleType":"CAR"}`, []error{ErrMalformedJSON}, ""},
		{"lone low surrogate", `{"plateNumber":"P\ude97","timestamp":0,"vehicleType":"CAR"}`, []error{ErrMalformedJSON}, ""},
		{"high surrogate pair of highs", `{"plateNumber":"P\ud83d\ud83d","timestamp":0,"vehicleType":"CAR"}`, []error{ErrMalformedJSON}, ""},
		{"too deep", `{"x":` + strings.Repeat("[", MaxDepth) + strings.Repeat("]", MaxDepth) + `,"plateNumber":"P","timestamp":0,"vehicleType":"CAR"}`, []error{ErrTooDeep}, ""},
		{"too deep objects", `{"x":` + strings.Repeat(`{"a":`, MaxDepth) + `1` + strings.Repeat("}", MaxDepth) + `,"plateNumber":"P","timestamp":0,"vehicleType":"CAR"}`, []error{ErrTooDeep}, ""},
		{"10000 nested arrays", `{"x":` + strings.Repeat("[", 10000) + strings.Repeat("]", 10000) + `,"plateNumber":"P","timestamp":0,"vehicleType":"CAR"}`, []error{ErrTooDeep}, ""},
		{"1e6 unclosed arrays", `{"x":` + strings.Repeat("[", 1e6), []error{ErrTooDeep}, ""},
		{"mismatched brackets", `{"x":[1},"plateNumber":"P","timestamp":0,"vehicleType":"CAR"}`, []error{ErrMalformedJSON}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := []byte(tt.in)
			_, err := decodeVehicle(t, data)
			if err == nil {
				t.Fatalf("decode %q: no error", tt.in)
			}
			for _, target := range tt.is {
				if !errors.Is(err, target) {
					t.Errorf("decode %q: error %q does not match %q", tt.in, err, target)
				}
			}
			var de *DecodeError
			errors.As(err, &de)
			if de.Field != tt.field {
				t.Errorf("decode %q: error %q names field %q, want %q", tt.in, err, de.Field, tt.field)
			}
			if len(err.Error()) > 200 {
				t.Errorf("error text too long for a header: %d bytes", len(err.Error()))
			}
		})
	}
}

func TestDecodeErrorText(t *testing.T) {
	tests := []struct{ in, want string }{
		{rec(`1e400`, `"CAR"`), `decode vehicle: timestamp: number out of range`},
		{rec(`0`, `"BIKE"`), `decode vehicle: vehicleType: unknown vehicle type "BIKE"`},
		{`{"timestamp":0,"vehicleType":"CAR"}`, `decode vehicle: plateNumber: required`},
		{`{"plateNumber":1}`, `decode vehicle: plateNumber: expected a string, got number`},
		{`{"plateNumber":"P"} x`, `decode vehicle: trailing data after the object at offset 20`},
		{``, `decode vehicle: empty input at offset 0`},
		{`[]`, `decode vehicle: expected a JSON object, got array`},
	}
	for _, tt := range tests {
		_, err := DecodeVehicleEvent([]byte(tt.in))
		if err == nil || err.Error() != tt.want {
			t.Errorf("DecodeVehicleEvent(%q) error = %v, want %q", tt.in, err, tt.want)
		}
	}
	_, err := StatisticsCodec{}.Decode([]byte(`{}`))
	if err == nil || err.Error() != "decode statistics: start: required" {
		t.Errorf("StatisticsCodec.Decode({}) error = %v", err)
	}
}

func TestDecodeHugeRecord(t *testing.T) {
	// A 1 MiB record is accepted when it is valid: the size limit belongs to
	// the Kafka consumer (fetch and message size), not to the codec.
	big := bytes.Repeat([]byte("ab\\u00e9 "), (1<<20)/9)
	data := []byte(`{"plateNumber":"P","timestamp":0,"vehicleType":"CAR","x":"` + string(big) + `","y":[` + strings.Repeat(`{"k":[1,"s",null]},`, 5000) + `0]}`)
	if len(data) < 1<<20 {
		t.Fatalf("record is %d bytes", len(data))
	}
	if _, err := decodeVehicle(t, data); err != nil {
		t.Fatalf("decode 1 MiB record: %v", err)
	}
	// And a 1 MiB plate number comes back whole.
	plate := strings.Repeat("Ж", 1<<19)
	v, err := decodeVehicle(t, []byte(`{"plateNumber":"`+plate+`","timestamp":0,"vehicleType":"CAR"}`))
	if err != nil || v.PlateNumber != plate {
		t.Fatalf("decode 1 MiB plate: %v", err)
	}
}
