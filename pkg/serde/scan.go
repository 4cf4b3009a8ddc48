package serde

import (
	"encoding/binary"
	"math/bits"
	"strconv"
	"unicode/utf8"

	"github.com/vehicle-stats/vehicle-stats/pkg/model"
)

// This file is the hand-written JSON scanner both vehicle decoders and the
// statistics decoder run on. It reads the record's top-level object key by
// key without recursion, validates every byte of the input (including the
// values of unknown fields) and hands the known fields' raw bytes to the
// record scanners. It never builds a string on valid input unless asked to.

// scanner holds the input and the first syntax error found in it.
type scanner struct {
	data   []byte
	err    *DecodeError
	record string
}

// fail records a syntax error at off and returns -1, the "stop" index.
func (s *scanner) fail(off int, reason string) int {
	if s.err == nil {
		s.err = &DecodeError{Reason: reason, Offset: off, Err: ErrMalformedJSON, record: s.record}
	}
	return -1
}

// failAt records a syntax error about the byte at off (or the end of the
// input) and returns -1.
func (s *scanner) failAt(off int, want string) int {
	if off >= len(s.data) {
		return s.fail(off, "unexpected end of input")
	}
	return s.fail(off, "unexpected "+describeByte(s.data[off])+", "+want)
}

func describeByte(c byte) string {
	if c >= 0x20 && c < 0x7f {
		return strconv.QuoteRune(rune(c))
	}
	return "byte 0x" + strconv.FormatUint(uint64(c), 16)
}

// skipWS returns the index of the first non-whitespace byte at or after i.
func skipWS(data []byte, i int) int {
	for i < len(data) {
		switch data[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// plainString marks the bytes a string can hold without a closer look: not a
// control character, quote, backslash or non-ASCII byte.
var plainString = func() (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// skipPlain returns the index of the first byte at or after i that is not
// plain string content. It looks at eight bytes at a time (SWAR): a byte
// needs a closer look if it is below 0x20, a quote, a backslash or non-ASCII.
// The classic "has zero byte" test can also flag a byte above a true hit
// (borrows run upward), never below it, so the lowest flag is exact.
func skipPlain(data []byte, i int) int {
	const (
		ones = 0x0101010101010101
		high = 0x8080808080808080
	)
	for i+8 <= len(data) {
		x := binary.LittleEndian.Uint64(data[i:])
		q := x ^ ('"' * ones)
		b := x ^ ('\\' * ones)
		m := ((x - 0x20*ones) & ^x) | ((q - ones) & ^q) | ((b - ones) & ^b) | x
		if m &= high; m != 0 {
			return i + bits.TrailingZeros64(m)/8
		}
		i += 8
	}
	for i < len(data) && plainString[data[i]] {
		i++
	}
	return i
}

// scanString validates the JSON string starting with the quote at i. It
// returns the index just past the closing quote (or -1) and whether the
// string holds escapes, in which case its contents need unescape.
func (s *scanner) scanString(i int) (int, bool) {
	data := s.data
	i++ // opening quote
	esc := false
	for {
		i = skipPlain(data, i)
		if i >= len(data) {
			return s.fail(i, "unexpected end of input in string"), esc
		}
		c := data[i]
		switch {
		case c == '"':
			return i + 1, esc
		case c == '\\':
			esc = true
			if i = s.scanEscape(i); i < 0 {
				return -1, esc
			}
		case c < 0x20:
			return s.fail(i, "control character in string"), esc
		default:
			r, size := utf8.DecodeRune(data[i:])
			if r == utf8.RuneError && size == 1 {
				return s.fail(i, "invalid UTF-8 in string"), esc
			}
			i += size
		}
	}
}

// scanEscape validates the escape sequence starting with the backslash at i
// and returns the index past it. A \u escape must be a Unicode scalar value:
// a high surrogate must be followed by an escaped low surrogate, and a lone
// surrogate is refused, because it has no UTF-8 form.
func (s *scanner) scanEscape(i int) int {
	data := s.data
	if i+1 >= len(data) {
		return s.fail(len(data), "unexpected end of input in string")
	}
	switch data[i+1] {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		return i + 2
	case 'u':
	default:
		return s.fail(i, "invalid escape in string")
	}
	r, ok := hex4(data, i+2)
	if !ok {
		return s.fail(i, "invalid \\u escape in string")
	}
	switch {
	case r >= 0xdc00 && r <= 0xdfff:
		return s.fail(i, "lone surrogate in string")
	case r >= 0xd800 && r <= 0xdbff:
		if i+7 >= len(data) || data[i+6] != '\\' || data[i+7] != 'u' {
			return s.fail(i, "lone surrogate in string")
		}
		lo, ok := hex4(data, i+8)
		if !ok {
			return s.fail(i+6, "invalid \\u escape in string")
		}
		if lo < 0xdc00 || lo > 0xdfff {
			return s.fail(i, "lone surrogate in string")
		}
		return i + 12
	}
	return i + 6
}

// hex4 decodes the four hex digits at data[i:i+4].
func hex4(data []byte, i int) (rune, bool) {
	if i+4 > len(data) {
		return 0, false
	}
	var r rune
	for _, c := range data[i : i+4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// unescape appends the decoded contents of a string that scanString has
// validated (raw is what lies between the quotes).
func unescape(dst, raw []byte) []byte {
	for i := 0; i < len(raw); {
		c := raw[i]
		if c != '\\' {
			j := i + 1
			for j < len(raw) && raw[j] != '\\' {
				j++
			}
			dst = append(dst, raw[i:j]...)
			i = j
			continue
		}
		switch raw[i+1] {
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r, _ := hex4(raw, i+2)
			if r >= 0xd800 && r <= 0xdbff {
				lo, _ := hex4(raw, i+8)
				r = 0x10000 + (r-0xd800)<<10 + (lo - 0xdc00)
				i += 6
			}
			dst = utf8.AppendRune(dst, r)
			i += 6
			continue
		default: // '"', '\\', '/'
			dst = append(dst, raw[i+1])
		}
		i += 2
	}
	return dst
}

// number is where a scanned JSON number's parts lie in the input.
type number struct {
	neg                bool
	intStart, intEnd   int // integer digits
	fracStart, fracEnd int // fraction digits, empty if none
	exp                int64
	hasExp             bool
}

// maxExp bounds the exponent we keep: far beyond any that can give an
// in-range time from up to len(input) digits, and far from overflow.
const maxExp = 1 << 40

// scanNumber validates the JSON number starting at i and returns the index
// past it (or -1).
func (s *scanner) scanNumber(i int, n *number) int {
	data := s.data
	start := i
	if data[i] == '-' {
		n.neg = true
		i++
	}
	n.intStart = i
	if i >= len(data) {
		return s.fail(i, "unexpected end of input in number")
	}
	switch c := data[i]; {
	case c == '0':
		i++
	case c >= '1' && c <= '9':
		i++
		for i < len(data) && data[i] >= '0' && data[i] <= '9' {
			i++
		}
	default:
		return s.fail(start, "invalid number")
	}
	n.intEnd = i
	n.fracStart, n.fracEnd = i, i
	if i < len(data) && data[i] == '.' {
		i++
		n.fracStart = i
		for i < len(data) && data[i] >= '0' && data[i] <= '9' {
			i++
		}
		if i == n.fracStart {
			return s.fail(start, "invalid number")
		}
		n.fracEnd = i
	}
	if i < len(data) && (data[i] == 'e' || data[i] == 'E') {
		n.hasExp = true
		i++
		neg := false
		if i < len(data) && (data[i] == '+' || data[i] == '-') {
			neg = data[i] == '-'
			i++
		}
		d := i
		var e int64
		for i < len(data) && data[i] >= '0' && data[i] <= '9' {
			if e < maxExp {
				e = e*10 + int64(data[i]-'0')
			}
			i++
		}
		if i == d {
			return s.fail(start, "invalid number")
		}
		if neg {
			e = -e
		}
		n.exp = e
	}
	// A number must end at a delimiter; "1x" or "01" is not JSON.
	if i < len(data) {
		switch data[i] {
		case ' ', '\t', '\n', '\r', ',', '}', ']':
		default:
			return s.fail(start, "invalid number")
		}
	}
	return i
}

// scanLiteral validates true, false or null at i.
func (s *scanner) scanLiteral(i int, lit string) int {
	if len(s.data)-i < len(lit) || string(s.data[i:i+len(lit)]) != lit {
		return s.fail(i, "invalid literal")
	}
	return i + len(lit)
}

// skipValue validates the value at i, whose enclosing containers make depth
// levels, and returns the index past it. It keeps its own stack of open
// containers in a bit set instead of recursing, so hostile nesting costs
// neither stack nor heap.
func (s *scanner) skipValue(i, depth int) int {
	data := s.data
	var objects uint64 // bit k: the container at level k+1 is an object
	level := 0
	for {
		// A value is due at i.
		i = skipWS(data, i)
		if i >= len(data) {
			return s.fail(i, "unexpected end of input")
		}
		switch c := data[i]; {
		case c == '"':
			i, _ = s.scanString(i)
		case c == '{' || c == '[':
			if depth+level+1 > MaxDepth {
				if s.err == nil {
					s.err = &DecodeError{Reason: "nesting deeper than " + strconv.Itoa(MaxDepth), Offset: i, Err: ErrTooDeep, record: s.record}
				}
				return -1
			}
			level++
			i = skipWS(data, i+1)
			if c == '{' {
				objects |= 1 << (level - 1)
				if i < len(data) && data[i] == '}' {
					i++
					level--
					break
				}
				if i = s.scanKeyColon(i); i < 0 {
					return -1
				}
				continue
			}
			objects &^= 1 << (level - 1)
			if i < len(data) && data[i] == ']' {
				i++
				level--
				break
			}
			continue
		case c == '-' || (c >= '0' && c <= '9'):
			var n number
			i = s.scanNumber(i, &n)
		case c == 't':
			i = s.scanLiteral(i, "true")
		case c == 'f':
			i = s.scanLiteral(i, "false")
		case c == 'n':
			i = s.scanLiteral(i, "null")
		default:
			return s.failAt(i, "looking for a value")
		}
		if i < 0 {
			return -1
		}
		// A value ended (a scalar or a container just closed); close
		// containers until one wants another member.
		for {
			if level == 0 {
				return i
			}
			i = skipWS(data, i)
			if i >= len(data) {
				return s.fail(i, "unexpected end of input")
			}
			inObject := objects&(1<<(level-1)) != 0
			c := data[i]
			if c == ',' {
				i++
				if inObject {
					if i = s.scanKeyColon(skipWS(data, i)); i < 0 {
						return -1
					}
				}
				break
			}
			if (inObject && c == '}') || (!inObject && c == ']') {
				i++
				level--
				continue
			}
			return s.failAt(i, "expected ',' or the end of the container")
		}
	}
}

// scanKeyColon validates an object key at i and the colon after it and
// returns the index past the colon.
func (s *scanner) scanKeyColon(i int) int {
	if i >= len(s.data) || s.data[i] != '"' {
		return s.failAt(i, "looking for an object key")
	}
	if i, _ = s.scanString(i); i < 0 {
		return -1
	}
	i = skipWS(s.data, i)
	if i >= len(s.data) || s.data[i] != ':' {
		return s.failAt(i, "expected ':' after object key")
	}
	return i + 1
}

// object walks the members of the record's top-level object.
type object struct {
	scanner
	i      int
	keyBuf [24]byte
}

// begin checks that the input is an object and positions the walk on its
// first member. It returns false with s.err set otherwise.
func (o *object) begin() bool {
	i := skipWS(o.data, 0)
	if i >= len(o.data) {
		if len(o.data) == 0 {
			o.fail(0, "empty input")
		} else {
			o.fail(i, "no JSON value, only whitespace")
		}
		return false
	}
	if o.data[i] != '{' {
		// Tell a wrong type from garbage: only the first gets ErrWrongType.
		end := o.skipValue(i, 0)
		if end >= 0 && skipWS(o.data, end) != len(o.data) {
			o.fail(skipWS(o.data, end), "trailing data after the value")
		}
		if o.err == nil {
			o.err = &DecodeError{Reason: "expected a JSON object, got " + jsonKind(o.data[i]), Offset: i, Err: ErrWrongType, record: o.record}
		}
		return false
	}
	o.i = i + 1
	return true
}

func jsonKind(c byte) string {
	switch c {
	case '[':
		return "array"
	case '"':
		return "string"
	case 't', 'f':
		return "boolean"
	case 'n':
		return "null"
	}
	return "number"
}

// next reads the next member's key and colon, leaving o.i on the value. It
// returns ok false at the end of the object (o.i past the '}') or on a syntax
// error (o.err set). The key comes unescaped; a key too long to be one of
// the contract's comes back as "" (any unknown name will do).
func (o *object) next(first bool) (key []byte, ok bool) {
	data := o.data
	i := skipWS(data, o.i)
	if !first {
		if i >= len(data) {
			o.fail(i, "unexpected end of input")
			return nil, false
		}
		switch data[i] {
		case ',':
			i = skipWS(data, i+1)
		case '}':
			o.i = i + 1
			return nil, false
		default:
			o.failAt(i, "expected ',' or '}' after object member")
			return nil, false
		}
	} else if i < len(data) && data[i] == '}' {
		o.i = i + 1
		return nil, false
	}
	if i >= len(data) || data[i] != '"' {
		o.failAt(i, "looking for an object key")
		return nil, false
	}
	end, esc := o.scanString(i)
	if end < 0 {
		return nil, false
	}
	key = data[i+1 : end-1]
	if esc {
		if len(key) > 6*len(o.keyBuf) {
			key = nil
		} else {
			key = unescape(o.keyBuf[:0], key)
			if len(key) > len(o.keyBuf) {
				key = nil
			}
		}
	}
	i = skipWS(data, end)
	if i >= len(data) || data[i] != ':' {
		o.failAt(i, "expected ':' after object key")
		return nil, false
	}
	o.i = skipWS(data, i+1)
	return key, true
}

// end checks that nothing but whitespace follows the object.
func (o *object) end() bool {
	if o.err != nil {
		return false
	}
	if i := skipWS(o.data, o.i); i != len(o.data) {
		o.fail(i, "trailing data after the object")
		return false
	}
	return true
}

// value kinds, by first byte.
const (
	kindBad = iota
	kindString
	kindNumber
	kindNull
	kindOther
)

func valueKind(data []byte, i int) int {
	if i >= len(data) {
		return kindBad
	}
	switch c := data[i]; {
	case c == '"':
		return kindString
	case c == '-' || (c >= '0' && c <= '9'):
		return kindNumber
	case c == 'n':
		return kindNull
	case c == '{' || c == '[' || c == 't' || c == 'f':
		return kindOther
	}
	return kindBad
}

// stringValue scans the string value at o.i and returns its raw contents
// and whether they hold escapes.
func (o *object) stringValue() (raw []byte, esc, ok bool) {
	start := o.i
	end, esc := o.scanString(start)
	if end < 0 {
		return nil, false, false
	}
	o.i = end
	return o.data[start+1 : end-1], esc, true
}

// skip validates and skips the value at o.i.
func (o *object) skip() bool {
	o.i = o.skipValue(o.i, 1)
	return o.i >= 0
}

// Vehicle record fields, as bits of a set.
const (
	fPlate = 1 << iota
	fVignette
	fTimestamp
	fType
)

// vehicleRecord is what DecodeVehicleEvent takes from a record.
type vehicleRecord struct {
	eventTime int64
	vtype     model.VehicleType
}

// scan decodes and validates a Vehicle record; it allocates nothing unless
// it fails.
func (r *vehicleRecord) scan(data []byte) error {
	o := object{scanner: scanner{data: data, record: "vehicle"}}
	if !o.begin() {
		return o.err
	}
	var (
		seen, present uint8 // fields met; fields met with a non-null value
		ferr          *DecodeError
		plateRaw      []byte
	)
	bad := func(field, reason string, sentinel error, off int) {
		if ferr == nil {
			ferr = &DecodeError{Field: field, Reason: reason, Offset: off,
				Err: &model.FieldError{Field: field, Reason: reason, Err: sentinel}, record: "vehicle"}
		}
	}
	for first := true; ; first = false {
		key, ok := o.next(first)
		if !ok {
			break
		}
		var f uint8
		var name string
		switch string(key) {
		case "plateNumber":
			f, name = fPlate, "plateNumber"
		case "vignetteStickerId":
			f, name = fVignette, "vignetteStickerId"
		case "timestamp":
			f, name = fTimestamp, "timestamp"
		case "vehicleType":
			f, name = fType, "vehicleType"
		default:
			if !o.skip() {
				return o.err
			}
			continue
		}
		start := o.i
		if seen&f != 0 {
			bad(name, "duplicate key", ErrDuplicateKey, start)
		}
		seen |= f
		switch valueKind(data, start) {
		case kindNull:
			if o.i = o.scanLiteral(start, "null"); o.i < 0 {
				return o.err
			}
			continue
		case kindString:
			raw, esc, ok := o.stringValue()
			if !ok {
				return o.err
			}
			present |= f
			switch f {
			case fPlate:
				plateRaw = raw
			case fTimestamp:
				if ferr != nil {
					break
				}
				text := raw // a separate variable keeps buf on the stack
				if esc {
					var buf [40]byte
					text = unescape(buf[:0], raw)
				}
				ms, reason, sentinel := parseRFC3339(text)
				if sentinel != nil {
					bad(name, reason, sentinel, start)
				}
				r.eventTime = ms
			case fType:
				if ferr != nil {
					break
				}
				text := raw
				if esc {
					var buf [16]byte
					text = unescape(buf[:0], raw)
				}
				t, ok := lookupType(text)
				if !ok {
					bad(name, "unknown vehicle type "+quoteShort(text), model.ErrUnknownVehicleType, start)
				}
				r.vtype = t
			}
			continue
		case kindNumber:
			if f == fTimestamp {
				var n number
				if o.i = o.scanNumber(start, &n); o.i < 0 {
					return o.err
				}
				present |= f
				if ferr == nil {
					ms, ok := n.millis(data)
					if !ok {
						bad(name, "number out of range", model.ErrTimestampOutOfRange, start)
					}
					r.eventTime = ms
				}
				continue
			}
		case kindBad:
			o.failAt(start, "looking for a value")
			return o.err
		}
		if !o.skip() {
			return o.err
		}
		want := "string"
		if f == fTimestamp {
			want = "string or number"
		}
		bad(name, "expected a "+want+", got "+jsonKind(data[start]), ErrWrongType, start)
	}
	if !o.end() {
		return o.err
	}
	if ferr != nil {
		return ferr
	}
	switch {
	case present&fPlate == 0:
		bad("plateNumber", "required", model.ErrMissingField, -1)
	case len(plateRaw) == 0:
		bad("plateNumber", "must not be empty", model.ErrMissingField, -1)
	case present&fTimestamp == 0:
		bad("timestamp", "required", model.ErrMissingField, -1)
	case present&fType == 0:
		bad("vehicleType", "required", model.ErrMissingField, -1)
	case r.eventTime == model.ZeroTimeMillis:
		bad("timestamp", "required (zero time)", model.ErrMissingField, -1)
	}
	if ferr != nil {
		return ferr
	}
	return nil
}

// quoteShort quotes a value for an error message, cut so that the message
// stays small whatever the input.
func quoteShort(b []byte) string {
	const max = 40
	if len(b) > max {
		return strconv.Quote(string(b[:max])) + "..."
	}
	return strconv.Quote(string(b))
}

// millis converts a timestamp number to epoch milliseconds, exactly, from
// its decimal digits: below 1e11 it is seconds, otherwise milliseconds, and
// either way the result is floored to the millisecond. ok is false when the
// result is outside the event-time range.
func (n *number) millis(data []byte) (int64, bool) {
	// The digits, integer then fraction, as one sequence with the decimal
	// point p places after its first non-zero digit: value = 0.d1d2... × 10^p.
	intLen := n.intEnd - n.intStart
	fracLen := n.fracEnd - n.fracStart
	total := intLen + fracLen
	digit := func(k int) byte { // k-th digit of the sequence
		if k < intLen {
			return data[n.intStart+k]
		}
		return data[n.fracStart+k-intLen]
	}
	z := 0
	for z < total && digit(z) == '0' {
		z++
	}
	if z == total {
		return 0, true // zero, also "-0" and "0e99"
	}
	p := int64(intLen) + n.exp - int64(z)
	var k int64 // how many digits make the integer number of milliseconds
	if !n.neg && p >= 12 {
		if p > 15 {
			return 0, false
		}
		k = p // milliseconds
	} else {
		if p > 11 {
			return 0, false
		}
		k = p + 3 // seconds
	}
	var v int64
	idx := z
	for j := int64(0); j < k; j++ {
		v *= 10
		if idx < total {
			v += int64(digit(idx) - '0')
			idx++
		}
	}
	if n.neg {
		// floor(-x) = -ceil(x): any non-zero digit left rounds away.
		rest := false
		if k <= 0 {
			rest = true // the first digit is non-zero and below the ms
		} else {
			for ; idx < total; idx++ {
				if digit(idx) != '0' {
					rest = true
					break
				}
			}
		}
		v = -v
		if rest {
			v--
		}
	}
	if v < model.MinEventTime || v > model.MaxEventTime {
		return 0, false
	}
	return v, true
}
