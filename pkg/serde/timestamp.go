package serde

import "github.com/vehicle-stats/vehicle-stats/pkg/model"

// parseRFC3339 reads an RFC 3339 date-time as this package accepts it (see
// the package documentation) and returns it in epoch milliseconds, floored.
// On failure it returns a short reason and the sentinel that classifies it.
func parseRFC3339(b []byte) (ms int64, reason string, sentinel error) {
	const bad = "not an RFC 3339 date-time"
	// 2006-01-02T15:04:05Z is the shortest form.
	if len(b) < 20 || b[4] != '-' || b[7] != '-' || b[10] != 'T' || b[13] != ':' || b[16] != ':' {
		return 0, bad, ErrInvalidTimestamp
	}
	year, ok1 := digits(b[0:4])
	month, ok2 := digits(b[5:7])
	day, ok3 := digits(b[8:10])
	hour, ok4 := digits(b[11:13])
	minute, ok5 := digits(b[14:16])
	sec, ok6 := digits(b[17:19])
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) {
		return 0, bad, ErrInvalidTimestamp
	}
	if month < 1 || month > 12 || day < 1 || day > daysIn(month, year) ||
		hour > 23 || minute > 59 || sec > 59 {
		return 0, "date or time field out of range", ErrInvalidTimestamp
	}
	i := 19
	var milli int64
	if b[i] == '.' {
		i++
		start := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			if i-start < 3 {
				milli = milli*10 + int64(b[i]-'0')
			}
			i++
		}
		n := i - start
		if n == 0 {
			return 0, bad, ErrInvalidTimestamp
		}
		for ; n < 3; n++ {
			milli *= 10
		}
	}
	if i >= len(b) {
		return 0, bad, ErrInvalidTimestamp
	}
	var offset int64 // minutes east of UTC
	switch b[i] {
	case 'Z':
		i++
	case '+', '-':
		if len(b)-i != 6 || b[i+3] != ':' {
			return 0, bad, ErrInvalidTimestamp
		}
		oh, ok1 := digits(b[i+1 : i+3])
		om, ok2 := digits(b[i+4 : i+6])
		if !ok1 || !ok2 {
			return 0, bad, ErrInvalidTimestamp
		}
		if oh > 23 || om > 59 {
			return 0, "zone offset out of range", ErrInvalidTimestamp
		}
		offset = oh*60 + om
		if b[i] == '-' {
			offset = -offset
		}
		i += 6
	default:
		return 0, bad, ErrInvalidTimestamp
	}
	if i != len(b) {
		return 0, bad, ErrInvalidTimestamp
	}
	days := daysFromCivil(year, month, day)
	ms = (((days*24+hour)*60+minute-offset)*60+sec)*1000 + milli
	if ms < model.MinEventTime || ms > model.MaxEventTime {
		return 0, "time out of range", model.ErrTimestampOutOfRange
	}
	return ms, "", nil
}

// digits decodes a fixed-width run of ASCII digits.
func digits(b []byte) (int64, bool) {
	var v int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + int64(c-'0')
	}
	return v, true
}

func daysIn(month, year int64) int64 {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// daysFromCivil returns the days since 1970-01-01 of a proleptic Gregorian
// date with year >= 0 (H. Hinnant's algorithm).
func daysFromCivil(y, m, d int64) int64 {
	if m <= 2 {
		y--
	}
	era := y / 400
	if y < 0 {
		era = (y - 399) / 400
	}
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return era*146097 + doe - 719468
}
