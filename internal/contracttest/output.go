package contracttest

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/vehicle-stats/vehicle-stats/pkg/model"
	"github.com/vehicle-stats/vehicle-stats/pkg/serde"
)

// OutputRecord is one record read from the output topic.
type OutputRecord struct {
	Key, Value []byte
	// Offset is the record's offset in the output topic's one partition.
	Offset int64
	// Time is the record's timestamp, epoch ms, which the contract sets to
	// the window's end - 1 ms; 0: not read, not checked.
	Time int64
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
	// for their key; Mistimed records whose timestamp is not their
	// window's end - 1 ms.
	Missing, Wrong, Conflicting, Extra, Undecodable, Mistimed []Mismatch
}

// OK is true when every expected key was written with exactly its value,
// nothing else was written, no key got two values and every record has its
// window's timestamp.
func (r CountReport) OK() bool {
	return r.Correct == r.Expected && len(r.Missing)+len(r.Wrong)+len(r.Conflicting)+len(r.Extra)+len(r.Undecodable)+len(r.Mistimed) == 0
}

// CompareOutput checks the output records (in topic order) against the
// expected counts for windows of size window: each expected key once, its
// value byte for byte the contract's encoding of its count (byte-identical
// repeats allowed and counted), no other key, no key with two values, and
// each record stamped with its window's end - 1 ms.
func CompareOutput(want map[Key]int64, records []OutputRecord, window time.Duration) CountReport {
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
		if r.Time != 0 && r.Time != windowEnd(k, window)-1 {
			rep.Mistimed = append(rep.Mistimed, Mismatch{Key: k, Got: []string{model.TimeFromMillis(r.Time).UTC().Format(time.RFC3339Nano)}, Offsets: []int64{r.Offset}})
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
		wantByKey[k.OutputKey()] = n
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
			case count != n || s.values[0] != string(golden(k, n, window)):
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

// golden is the contract's value of output key k with count n: byte for
// byte what the processor writes.
func golden(k string, n int64, window time.Duration) []byte {
	typ, startText, _ := strings.Cut(k, ":")
	t, _ := model.LookupVehicleType(typ)
	start, _ := strconv.ParseInt(startText, 10, 64)
	return serde.AppendStatistics(nil, model.VehicleStatistics{Start: model.TimeFromMillis(start), End: model.TimeFromMillis(start + window.Milliseconds()), VehicleType: t, Count: n})
}

// windowEnd is the end of the window of output key k, epoch ms; 0 when k is
// not TYPE:start.
func windowEnd(k string, window time.Duration) int64 {
	_, startText, _ := strings.Cut(k, ":")
	start, err := strconv.ParseInt(startText, 10, 64)
	if err != nil {
		return 0
	}
	return start + window.Milliseconds()
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
	add("mistimed", r.Mistimed)
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
