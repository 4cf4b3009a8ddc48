package serde

import (
	"errors"
	"strconv"
)

// ErrInvalidRecord matches every decode failure: every *DecodeError matches
// it with errors.Is. A consumer routes such a record to the dead-letter topic.
var ErrInvalidRecord = errors.New("invalid record")

// ErrMalformedJSON says the bytes are not JSON by RFC 8259, or are JSON this
// package refuses to read: invalid UTF-8, an escape that is not a Unicode
// scalar value (a lone surrogate), trailing bytes after the value, empty
// input.
var ErrMalformedJSON = errors.New("malformed JSON")

// ErrTooDeep says an (ignored) value nests arrays and objects deeper than
// MaxDepth. The scanner does not recurse, so this is a limit on work and on
// absurd input, not a guard against stack overflow.
var ErrTooDeep = errors.New("nesting too deep")

// ErrWrongType says a value has the wrong JSON type: the record is not an
// object, or a field holds, say, a number where a string is due.
var ErrWrongType = errors.New("wrong JSON type")

// ErrDuplicateKey says a record names one of its contract fields twice, which
// would make its meaning depend on which one a reader keeps.
var ErrDuplicateKey = errors.New("duplicate key")

// ErrInvalidTimestamp says a timestamp string is not RFC 3339 as this package
// reads it (see the package documentation), or that a statistics window ends
// before it starts.
var ErrInvalidTimestamp = errors.New("invalid timestamp")

// ErrInvalidCount says a statistics count is not a non-negative integer.
var ErrInvalidCount = errors.New("invalid count")

// MaxDepth is how deeply arrays and objects may nest, the record's own object
// counting as 1.
const MaxDepth = 64

// DecodeError says what is wrong with a record's bytes. Its Error text is a
// short human reason suitable for a Kafka header, e.g.
// `decode vehicle: timestamp: number out of range`.
//
// Err is the cause: ErrMalformedJSON, ErrTooDeep or ErrWrongType for the
// record as a whole, and for a field problem the *model.FieldError, which in
// turn wraps a sentinel and matches model.ErrInvalidVehicle (vehicle records
// only). Unwrap returns Err. Every DecodeError matches ErrInvalidRecord.
type DecodeError struct {
	// Field is the JSON name of the field at fault, empty for the record as a
	// whole.
	Field string
	// Reason is a short explanation without the field name.
	Reason string
	// Offset is the byte offset in the input where the problem was found, or
	// -1 when it is not about a place (a missing field).
	Offset int
	// Err is the cause, a sentinel or a *model.FieldError.
	Err error

	record string // "vehicle" or "statistics", for the message
}

// Error returns "decode <record>: [field: ]reason", plus the offset for
// syntax errors, where the field name alone would not say where to look.
func (e *DecodeError) Error() string {
	rec := e.record
	if rec == "" {
		rec = "record"
	}
	s := "decode " + rec + ": "
	if e.Field != "" {
		s += e.Field + ": "
	}
	s += e.Reason
	if e.Field == "" && e.Offset >= 0 && errors.Is(e.Err, ErrMalformedJSON) {
		s += " at offset " + strconv.Itoa(e.Offset)
	}
	return s
}

// Unwrap returns the cause.
func (e *DecodeError) Unwrap() error { return e.Err }

// Is makes every DecodeError match ErrInvalidRecord.
func (e *DecodeError) Is(target error) bool { return target == ErrInvalidRecord }
