package serde

import "github.com/vehicle-stats/vehicle-stats/pkg/model"

// Statistics record fields, as bits of a set.
const (
	fStart = 1 << iota
	fEnd
	fStatsType
	fCount
)

// statisticsRecord is what StatisticsCodec.Decode takes from a record.
type statisticsRecord struct {
	start, end int64
	vtype      model.VehicleType
	count      int64
}

// scan decodes and validates a VehicleStatistics record with the vehicle
// scanner's rules for syntax, duplicates, nulls and wrong types.
func (r *statisticsRecord) scan(data []byte) error {
	o := object{scanner: scanner{data: data, record: "statistics"}}
	if !o.begin() {
		return o.err
	}
	var (
		seen, present uint8
		ferr          *DecodeError
	)
	bad := func(field, reason string, sentinel error, off int) {
		if ferr == nil {
			ferr = &DecodeError{Field: field, Reason: reason, Offset: off, Err: sentinel, record: "statistics"}
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
		case "start":
			f, name = fStart, "start"
		case "end":
			f, name = fEnd, "end"
		case "vehicleType":
			f, name = fStatsType, "vehicleType"
		case "count":
			f, name = fCount, "count"
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
		kind := valueKind(data, start)
		switch {
		case kind == kindBad:
			o.failAt(start, "looking for a value")
			return o.err
		case kind == kindNull:
			if o.i = o.scanLiteral(start, "null"); o.i < 0 {
				return o.err
			}
		case kind == kindString && f != fCount:
			raw, esc, ok := o.stringValue()
			if !ok {
				return o.err
			}
			present |= f
			if esc {
				raw = unescape(nil, raw)
			}
			switch f {
			case fStart, fEnd:
				ms, reason, sentinel := parseRFC3339(raw)
				if sentinel != nil {
					bad(name, reason, sentinel, start)
				}
				if f == fStart {
					r.start = ms
				} else {
					r.end = ms
				}
			case fStatsType:
				t, ok := lookupType(raw)
				if !ok {
					bad(name, "unknown vehicle type "+quoteShort(raw), model.ErrUnknownVehicleType, start)
				}
				r.vtype = t
			}
		case kind == kindNumber && f == fCount:
			var n number
			if o.i = o.scanNumber(start, &n); o.i < 0 {
				return o.err
			}
			present |= f
			c, reason := n.count(data)
			if reason != "" {
				bad(name, reason, ErrInvalidCount, start)
			}
			r.count = c
		default:
			if !o.skip() {
				return o.err
			}
			want := "string"
			if f == fCount {
				want = "number"
			}
			bad(name, "expected a "+want+", got "+jsonKind(data[start]), ErrWrongType, start)
		}
	}
	if !o.end() {
		return o.err
	}
	if ferr != nil {
		return ferr
	}
	switch {
	case present&fStart == 0:
		bad("start", "required", model.ErrMissingField, -1)
	case present&fEnd == 0:
		bad("end", "required", model.ErrMissingField, -1)
	case present&fStatsType == 0:
		bad("vehicleType", "required", model.ErrMissingField, -1)
	case present&fCount == 0:
		bad("count", "required", model.ErrMissingField, -1)
	case r.end <= r.start:
		bad("end", "must be after start", ErrInvalidTimestamp, -1)
	}
	if ferr != nil {
		return ferr
	}
	return nil
}

// count reads a non-negative integer without fraction or exponent.
func (n *number) count(data []byte) (int64, string) {
	if n.fracEnd > n.fracStart || n.hasExp {
		return 0, "must be an integer"
	}
	var v int64
	for _, c := range data[n.intStart:n.intEnd] {
		d := int64(c - '0')
		if v > (1<<63-1-d)/10 {
			return 0, "out of range"
		}
		v = v*10 + d
	}
	if n.neg && v != 0 {
		return 0, "negative"
	}
	return v, ""
}

// lookupType is model.LookupVehicleType for bytes; the switch on
// string(b) does not allocate.
func lookupType(b []byte) (model.VehicleType, bool) {
	switch string(b) {
	case "CAR":
		return model.Car, true
	case "TRUCK":
		return model.Truck, true
	case "BUS":
		return model.Bus, true
	case "VAN":
		return model.Van, true
	case "MOTORCYCLE":
		return model.Motorcycle, true
	}
	return model.VehicleTypeUnknown, false
}
