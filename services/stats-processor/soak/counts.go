package main

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/vehicle-stats/vehicle-stats/internal/contracttest"
	"github.com/vehicle-stats/vehicle-stats/pkg/model"
	"github.com/vehicle-stats/vehicle-stats/pkg/serde"
)

// OutputRecord is one record read from the output topic.
type OutputRecord struct {
	Key, Value []byte
	// Offset is the record's offset in the output topic's one partition.
	Offset int64
}

// Mismatch is one output key that is not as expected.
type Mismatch struct {
	Key string
	// Want is the expected count, 0 when the key should not exist.
	Want int64
	// Got are the distinct values written under the key, in offset order,
	// with the offset of each value's first record.
	Got []string
	// Offsets are the first offsets of the values in Got.
	Offsets []int64
}

// CountReport is the comparison of the output topic with the oracle.
type CountReport struct {
	// Expected is the number of (window, type) keys the oracle expects;
	// Correct how many of them were written with exactly the right value.
	Expected, Correct int
	// Records is the number of output records read.
	Records int
	// Duplicates counts records that repeat an earlier record's key and
	// value byte for byte: allowed by the contract after a crash.
	Duplicates int
	// Missing are expected keys never written; Wrong keys written with
	// one value that is not the expected one; Conflicting keys written
	// with two or more different values; Extra keys the oracle does not
	// expect; Undecodable records that are not a valid VehicleStatistics
	// for their key.
	Missing, Wrong, Conflicting, Extra, Undecodable []Mismatch
}

// OK is true when every expected key was written with exactly its count,
// nothing else was written, and no key got two values.
func (r CountReport) OK() bool {
	return r.Correct == r.Expected && len(r.Missing)+len(r.Wrong)+len(r.Conflicting)+len(r.Extra)+len(r.Undecodable) == 0
}

// OutputKey is the output record key of a (window, type): "CAR:1795304700000".
func OutputKey(k contracttest.Key) string {
	return k.Type.String() + ":" + strconv.FormatInt(k.Start, 10)
}

// CompareOutput checks the output records (in topic order) against the
// expected counts for windows of size window: each expected key once with
// its count (byte-identical repeats allowed and counted), no other key,
// and each record a valid VehicleStatistics whose type, start and end
// agree with its key.
func CompareOutput(want map[contracttest.Key]int64, records []OutputRecord, window time.Duration) CountReport {
	rep := CountReport{Expected: len(want), Records: len(records)}
	type seen struct {
		values  []string
		offsets []int64
	}
	byKey := map[string]*seen{}
	var order []string
	for _, r := range records {
		k := string(r.Key)
		s := byKey[k]
		if s == nil {
			s = &seen{}
			byKey[k] = s
			order = append(order, k)
		}
		dup := false
		for _, v := range s.values {
			if v == string(r.Value) {
				dup = true
			}
		}
		if dup {
			rep.Duplicates++
			continue
		}
		s.values = append(s.values, string(r.Value))
		s.offsets = append(s.offsets, r.Offset)
	}
	wantByKey := map[string]int64{}
	for k, n := range want {
		wantByKey[OutputKey(k)] = n
	}
	for _, k := range order {
		s := byKey[k]
		n, expected := wantByKey[k]
		m := Mismatch{Key: k, Want: n, Got: s.values, Offsets: s.offsets}
		switch {
		case !expected:
			rep.Extra = append(rep.Extra, m)
		case len(s.values) > 1:
			rep.Conflicting = append(rep.Conflicting, m)
		default:
			count, err := decodeFor(k, []byte(s.values[0]), window)
			switch {
			case err != nil:
				rep.Undecodable = append(rep.Undecodable, m)
			case count != n:
				rep.Wrong = append(rep.Wrong, m)
			default:
				rep.Correct++
			}
		}
	}
	for k, n := range wantByKey {
		if byKey[k] == nil {
			rep.Missing = append(rep.Missing, Mismatch{Key: k, Want: n})
		}
	}
	sort.Slice(rep.Missing, func(i, j int) bool { return rep.Missing[i].Key < rep.Missing[j].Key })
	return rep
}

// decodeFor decodes a VehicleStatistics value and checks it against its
// key; it returns the count.
func decodeFor(key string, value []byte, window time.Duration) (int64, error) {
	st, err := serde.StatisticsCodec{}.Decode(value)
	if err != nil {
		return 0, fmt.Errorf("decode: %w", err)
	}
	typ, startText, ok := strings.Cut(key, ":")
	if !ok {
		return 0, fmt.Errorf("key %q is not TYPE:start", key)
	}
	start, err := strconv.ParseInt(startText, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("key %q: %w", key, err)
	}
	if st.VehicleType.String() != typ || st.Start.UnixMilli() != start || st.End.UnixMilli() != start+window.Milliseconds() {
		return 0, fmt.Errorf("value %s does not match key %s", value, key)
	}
	return st.Count, nil
}

// Describe is a line per mismatch (at most limit per kind) for the summary.
func (r CountReport) Describe(limit int) []string {
	var lines []string
	add := func(kind string, ms []Mismatch) {
		for i, m := range ms {
			if i == limit {
				lines = append(lines, fmt.Sprintf("  ... and %d more %s keys", len(ms)-limit, kind))
				return
			}
			lines = append(lines, fmt.Sprintf("  %s %s: want count %d, got %s at offsets %v%s",
				kind, m.Key, m.Want, strings.Join(m.Got, " then "), m.Offsets, windowTime(m.Key)))
		}
	}
	add("missing", r.Missing)
	add("wrong", r.Wrong)
	add("conflicting", r.Conflicting)
	add("extra", r.Extra)
	add("undecodable", r.Undecodable)
	return lines
}

// windowTime is the window start of an output key as a readable time.
func windowTime(key string) string {
	_, s, _ := strings.Cut(key, ":")
	ms, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return ""
	}
	return " (window " + model.TimeFromMillis(ms).UTC().Format("15:04:05") + ")"
}
