// Package serde encodes and decodes the pipeline's records: the Vehicle of
// the input topic and the VehicleStatistics of the output topic, exactly as
// the data contract (docs/contract.md) defines them.
//
// It holds what the product uses: DecodeVehicleEvent, the processor's
// per-event decoder, which validates the whole record but keeps only the
// vehicle type and the event time and does not allocate; AppendVehicle (the
// producer's encoder) and AppendStatistics (the processor's), with
// AppendTimestamp and AppendTimestampMillis, which append into the caller's
// buffer without allocating; and StatisticsCodec.Decode, which the
// benchmarks and end-to-end tests use to read the output topic back.
// Package serdetest reads a whole Vehicle back, for tests.
//
// # What the decoders accept
//
// A record is one JSON object (RFC 8259), optionally surrounded by
// whitespace. Keys are matched exactly, case-sensitively, after unescaping
// ("plate\u004eumber" is plateNumber; "PlateNumber" is an unknown key).
// Unknown keys are ignored, whatever their value, but the value must still be
// well-formed JSON nested at most MaxDepth deep (the record's object counts
// as 1); repeats of an unknown key are ignored too.
//
// Vehicle fields:
//   - plateNumber: a non-empty string. Required.
//   - vignetteStickerId: a string; absent or null reads as "" (the contract
//     allows it to be empty and nothing depends on telling the two apart).
//   - timestamp: required, either
//   - a string in RFC 3339: YYYY-MM-DDTHH:MM:SS, an optional '.' and one
//     or more fraction digits (any number; only the first three count),
//     then 'Z' or ±HH:MM. This is time.Parse's strictness for
//     time.RFC3339Nano, minus its leniencies: 'T' and 'Z' upper case only,
//     no ',' before the fraction, no leap second (:60), the day checked
//     against the month, hour < 24, offset hour < 24 and minute < 60, year
//     0000-9999.
//   - a number. Below 1e11 it is epoch seconds, with any fraction (what
//     Jackson writes for an Instant, e.g. 1629123456.123456789); 1e11 or
//     more is epoch milliseconds, any fraction dropped. "Below" is literal:
//     every negative number is seconds, so -1 is 1969-12-31T23:59:59Z and
//     -62167219200 is the earliest valid time. Exponent forms (1.6e9) are
//     read too. The value is computed from the decimal digits, exactly, with
//     no floating point: 1629123456.999999999 is 1629123456999 ms.
//   - vehicleType: one of CAR, TRUCK, BUS, VAN, MOTORCYCLE, exactly.
//
// String values may use any JSON escape; "\u0043AR" is CAR and a timestamp
// may be escaped likewise. Event time is kept to the millisecond, rounded
// toward the past (floor) for every form, including times before 1970, and
// must lie within model.MinEventTime..model.MaxEventTime. The zero time.Time
// (0001-01-01T00:00:00Z) counts as a missing timestamp, as model.Validate
// says.
//
// Statistics records have start and end (RFC 3339 strings as above, end
// after start), vehicleType, and count (a non-negative integer with no
// fraction or exponent that fits in int64); all four are required.
//
// # How it fails
//
// Every decode failure is a *DecodeError that matches ErrInvalidRecord; its
// Error text, short and without the record's bytes beyond 40 characters of a
// bad value, is meant for the dead-letter topic's `error` header. It falls in
// exactly one class:
//   - ErrMalformedJSON: not JSON by RFC 8259, which this package reads more
//     strictly than encoding/json: invalid UTF-8 anywhere, and \u escapes of
//     lone surrogates, are refused (encoding/json replaces them with U+FFFD;
//     a record that cannot survive a round trip belongs in the dead-letter
//     topic). Also empty input and trailing bytes after the object.
//   - ErrTooDeep: an unknown value nests deeper than MaxDepth.
//   - ErrWrongType with an empty Field: the record is not an object.
//   - a field problem: Field names it and Err is a *model.FieldError, so
//     model.ErrInvalidVehicle matches, along with one of model.ErrMissingField
//     (absent, null or empty), model.ErrUnknownVehicleType,
//     model.ErrTimestampOutOfRange, ErrInvalidTimestamp, ErrWrongType, or
//     ErrDuplicateKey (a contract key given twice, which would let two
//     readers see two different records). Statistics field problems wrap the
//     sentinel directly, not a model.FieldError, so they do not claim to be
//     an invalid vehicle.
//
// A syntax error anywhere wins over a field problem, and field problems are
// reported in the order they occur, then missing fields in contract order,
// so the same bytes always give the same error. Nothing panics and nothing
// recurses: the fuzz targets check both, together with the agreement with
// encoding/json (all that json.Valid rejects is rejected here, and what is
// accepted has the values encoding/json reads).
//
// The append functions do not validate: the producer writes only what its
// generator made valid, and the processor only windows it counted. A valid
// value decodes to itself. Output is deterministic: same value, same bytes,
// which the output topic's idempotence relies on.
//
// # Why a hand-written scanner
//
// BenchmarkDecodeLibraries (libs_bench_test.go, and jsonv2_bench_test.go
// with GOEXPERIMENT=jsonv2) decodes the contract's example record, and its
// Jackson form, into the same VehicleEvent with encoding/json,
// encoding/json/v2, github.com/goccy/go-json and github.com/bytedance/sonic,
// each held to the same field rules (this package's timestamp parsers).
// Medians of 5 runs on the development machine (2 shared cores, Go 1.26),
// RFC 3339 / Jackson form, while other work loaded it (measured at 0264971,
// 2026-12-01; compare within this table only: on a quiet machine
// DecodeVehicleEvent took 206 ns/op, the figure for the per-event budget,
// see docs/benchmarks.md):
//
//	DecodeVehicleEvent       ~380 / ~380 ns/op     0 B/op   0 allocs/op
//	sonic                  ~2,200 / ~1,100 ns/op  ~290 B/op   5 allocs/op
//	goccy/go-json          ~3,200 / ~2,600 ns/op  ~300 B/op   5 allocs/op
//	encoding/json/v2       ~3,600 / ~3,900 ns/op  ~110 B/op   3 allocs/op
//	encoding/json          ~6,200 / ~13,900 ns/op ~390 B/op  10 allocs/op
//
// None meets the 300 ns per-event budget, all allocate, and of them only
// encoding/json/v2 refuses duplicate keys and invalid UTF-8 as the contract
// needs (encoding/json also matches keys case-insensitively). So the
// decoder is a hand-written scanner (scan.go): a single pass, no
// reflection, no recursion, plain string bytes checked eight at a time, and
// the known fields' values parsed in place.
//
// Encoding is appends into a caller's buffer with a table-driven timestamp
// formatter (Hinnant's civil-from-days) that is about 7x faster than
// time.Time.AppendFormat: AppendStatistics 55-70 ns/op without allocating,
// against ~600-900 ns/op and four allocations for encoding/json.Marshal.
package serde
