package serde

import (
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/vehicle-stats/vehicle-stats/pkg/model"
)

// AppendVehicle appends the JSON form of v to dst,
// {"plateNumber":...,"vignetteStickerId":...,"timestamp":"2026-11-21T23:45:05.123Z","vehicleType":"CAR"},
// with the timestamp in UTC, truncated to the millisecond, without
// validating v: the caller has (an invalid type is written as its String
// form and the record would not decode). It does not allocate when dst has
// room.
func AppendVehicle(dst []byte, v model.Vehicle) []byte {
	dst = append(dst, `{"plateNumber":`...)
	dst = appendString(dst, v.PlateNumber)
	dst = append(dst, `,"vignetteStickerId":`...)
	dst = appendString(dst, v.VignetteStickerID)
	dst = append(dst, `,"timestamp":"`...)
	dst = AppendTimestamp(dst, v.Timestamp)
	dst = append(dst, `","vehicleType":"`...)
	dst = append(dst, v.VehicleType.String()...)
	return append(dst, `"}`...)
}

// AppendStatistics appends the byte-exact JSON form of s to dst, as
// StatisticsCodec.Encode writes it, without validating s. It does not
// allocate when dst has room (128 bytes are enough for any s).
func AppendStatistics(dst []byte, s model.VehicleStatistics) []byte {
	dst = append(dst, `{"start":"`...)
	dst = AppendTimestamp(dst, s.Start)
	dst = append(dst, `","end":"`...)
	dst = AppendTimestamp(dst, s.End)
	dst = append(dst, `","vehicleType":"`...)
	dst = append(dst, s.VehicleType.String()...)
	dst = append(dst, `","count":`...)
	dst = strconv.AppendInt(dst, s.Count, 10)
	return append(dst, '}')
}

// AppendTimestamp appends t as RFC 3339 in UTC with exactly three fraction
// digits and a 'Z', e.g. 2026-11-21T23:45:05.123Z, truncating toward the
// past to the millisecond. A time outside the event-time range (year 0000
// through 9999) is written by time.Time.AppendFormat with the same layout,
// which is not RFC 3339 and which the decoders reject.
func AppendTimestamp(dst []byte, t time.Time) []byte {
	sec := t.Unix()
	if sec < model.MinEventTime/1000 || sec > model.MaxEventTime/1000 {
		return t.UTC().AppendFormat(dst, "2006-01-02T15:04:05.000Z07:00")
	}
	return appendMillis(dst, sec*1000+int64(t.Nanosecond()/1e6))
}

// AppendTimestampMillis appends the epoch-millisecond instant ms as
// AppendTimestamp does.
func AppendTimestampMillis(dst []byte, ms int64) []byte {
	if ms < model.MinEventTime || ms > model.MaxEventTime {
		return time.UnixMilli(ms).UTC().AppendFormat(dst, "2006-01-02T15:04:05.000Z07:00")
	}
	return appendMillis(dst, ms)
}

const msPerDay = 86400000

// twoDigits holds "00" through "99".
const twoDigits = "00010203040506070809" +
	"10111213141516171819" +
	"20212223242526272829" +
	"30313233343536373839" +
	"40414243444546474849" +
	"50515253545556575859" +
	"60616263646566676869" +
	"70717273747576777879" +
	"80818283848586878889" +
	"90919293949596979899"

// appendMillis formats ms, which must be within the event-time range, with
// the civil-from-days algorithm of H. Hinnant: a few unsigned divisions by
// constants instead of time.Time's general calendar code (about 4x faster
// than time.Time.AppendFormat; see BenchmarkTimeAppendFormat).
func appendMillis(dst []byte, ms int64) []byte {
	// Shift the origin back by one 400-year era from 0000-03-01 so that all
	// arithmetic is on non-negative numbers.
	u := uint64(ms - model.MinEventTime) // ms since 0000-01-01
	days := u / msPerDay
	rem := u - days*msPerDay
	// 0000-01-01 is day 306 of the era that starts on -0400-03-01.
	z := days + 146097 - 60
	era := z / 146097
	doe := z - era*146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	y := yoe + era*400 - 400
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	d := doy - (153*mp+2)/5 + 1
	m := mp + 3
	if mp >= 10 {
		m = mp - 9
		y++
	}
	sec := rem / 1000
	milli := rem - sec*1000
	hh := sec / 3600
	mm := sec/60 - hh*60
	ss := sec - (sec/60)*60

	n := len(dst)
	dst = append(dst, "0000-00-00T00:00:00.000Z"...)
	b := dst[n : n+24]
	yh, yl := y/100, y%100
	b[0], b[1] = twoDigits[2*yh], twoDigits[2*yh+1]
	b[2], b[3] = twoDigits[2*yl], twoDigits[2*yl+1]
	b[5], b[6] = twoDigits[2*m], twoDigits[2*m+1]
	b[8], b[9] = twoDigits[2*d], twoDigits[2*d+1]
	b[11], b[12] = twoDigits[2*hh], twoDigits[2*hh+1]
	b[14], b[15] = twoDigits[2*mm], twoDigits[2*mm+1]
	b[17], b[18] = twoDigits[2*ss], twoDigits[2*ss+1]
	b[20] = byte('0' + milli/100)
	ml := milli % 100
	b[21], b[22] = twoDigits[2*ml], twoDigits[2*ml+1]
	return dst
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string. It escapes what JSON requires
// (quote, backslash, control characters) plus U+2028 and U+2029, which
// JavaScript does not allow unescaped in string literals; the rest of the
// UTF-8 is copied as it is. Invalid UTF-8 is copied too: callers validate
// first, because replacing it would break the round trip silently.
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < 0xe2 {
			i++
			continue
		}
		if c >= 0xe2 {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r != '\u2028' && r != '\u2029' {
				i += size
				continue
			}
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\u202`...)
			dst = append(dst, hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		dst = append(dst, s[start:i]...)
		switch c {
		case '"', '\\':
			dst = append(dst, '\\', c)
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		case '\b':
			dst = append(dst, '\\', 'b')
		case '\f':
			dst = append(dst, '\\', 'f')
		default:
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		i++
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
