package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/vehicle-stats/vehicle-stats/pkg/model"
	"github.com/vehicle-stats/vehicle-stats/pkg/serde"
)

// Verification is how one system's output compares with the expected output.
type Verification struct {
	Name string `json:"name"`
	// Records observed, duplicates included; Distinct keys among them.
	Records  int `json:"records"`
	Distinct int `json:"distinct"`
	// Duplicates repeat an earlier record byte for byte; Conflicts repeat a
	// key with another value.
	Duplicates int `json:"duplicates"`
	Conflicts  int `json:"conflicts"`
	// Missing expected keys, Unexpected keys, and keys whose value Differs.
	Missing    int `json:"missing"`
	Unexpected int `json:"unexpected"`
	Differs    int `json:"differs"`
	// Undecodable values (not a VehicleStatistics).
	Undecodable int `json:"undecodable"`
	// EventsCounted is the sum of the counts of the distinct records.
	EventsCounted int64 `json:"events_counted"`
	// Match: the distinct records equal the expected ones, byte for byte.
	Match bool `json:"match"`
	// Undercount: the only differences are lower counts (or windows missing
	// altogether), the pattern of events dropped as late; Shortfall is how
	// many events are missing from the counts.
	Undercount bool  `json:"undercount"`
	Shortfall  int64 `json:"shortfall"`
	// Late is how many events the system itself reported as late (-1: unknown).
	Late int64 `json:"late"`
	// Explained: an undercount that equals what the system reported as late.
	Explained bool `json:"explained"`
	// Examples of differences, at most a few.
	Examples []string `json:"examples,omitempty"`
	// ExpectedFile is the system's own expected records (-expected-for),
	// empty when it was compared with the common ones.
	ExpectedFile string `json:"expected_file,omitempty"`
}

// Verdict is the whole comparison.
type Verdict struct {
	Expected       int            `json:"expected"`
	ExpectedEvents int64          `json:"expected_events"`
	Events         int64          `json:"events"`
	Systems        []Verification `json:"systems"`
	// Identical: every system's distinct records are the same set.
	Identical bool `json:"identical"`
	// OK: every system matches, or its only difference is explained by the
	// late events it reported.
	OK bool `json:"ok"`
}

// verifyCmd compares each NAME=FILE of observed records with the expected
// file and with each other, prints the outcome and writes it as JSON.
func verifyCmd(_ context.Context, args []string) error {
	fs := flag.NewFlagSet("verify", flag.ExitOnError)
	expectedPath := fs.String("expected", "", "expected output records (key TAB value per line)")
	events := fs.Int64("events", 0, "number of input events; the expected counts must add up to it")
	out := fs.String("out", "", "file for the Verdict (JSON)")
	lateArg := fs.String("late", "", "late events each system reported, NAME=N,NAME=N")
	var expectedFor listFlag
	fs.Var(&expectedFor, "expected-for", "NAME=FILE: compare system NAME with these expected records instead (repeatable)")
	_ = fs.Parse(args)
	own := map[string]string{}
	for _, kv := range expectedFor {
		name, path, ok := strings.Cut(kv, "=")
		if !ok {
			return fmt.Errorf("-expected-for: %q is not NAME=FILE", kv)
		}
		own[name] = path
	}
	late := map[string]int64{}
	for _, kv := range split(*lateArg) {
		name, n, ok := strings.Cut(kv, "=")
		x, err := strconv.ParseInt(n, 10, 64)
		if !ok || err != nil {
			return fmt.Errorf("-late: %q is not NAME=N", kv)
		}
		late[name] = x
	}
	if *expectedPath == "" || *out == "" || fs.NArg() == 0 {
		return errors.New("-expected, -out and NAME=FILE arguments are required")
	}
	want, wantEvents, err := readExpected(*expectedPath)
	if err != nil {
		return err
	}
	v := Verdict{Expected: len(want), ExpectedEvents: wantEvents, Events: *events, Identical: true, OK: true}
	if *events > 0 && v.ExpectedEvents != *events {
		v.OK = false
		fmt.Fprintf(os.Stderr, "  verify: the expected counts add up to %d, not %d events\n", v.ExpectedEvents, *events)
	}

	var sets []map[string]string
	for _, arg := range fs.Args() {
		name, path, ok := strings.Cut(arg, "=")
		if !ok {
			return fmt.Errorf("%q is not NAME=FILE", arg)
		}
		got, err := readRecords(path)
		if err != nil {
			return err
		}
		sysWant, sysEvents := want, v.ExpectedEvents
		if p, ok := own[name]; ok {
			if sysWant, sysEvents, err = readExpected(p); err != nil {
				return err
			}
		}
		ver := compare(name, sysWant, got)
		ver.ExpectedFile = own[name]
		ver.Late = -1
		if n, ok := late[name]; ok {
			ver.Late = n
		}
		if ver.Undercount {
			ver.Shortfall = sysEvents - ver.EventsCounted
			ver.Explained = ver.Late == ver.Shortfall
		}
		if (!ver.Match && !ver.Explained) || ver.Conflicts > 0 {
			v.OK = false
		}
		v.Systems = append(v.Systems, ver)
		distinct := map[string]string{}
		for _, r := range got {
			if _, dup := distinct[r.key]; !dup {
				distinct[r.key] = r.value
			}
		}
		sets = append(sets, distinct)
	}
	// Identity is reported, not required: a system that dropped late events
	// (and said so) differs from the others without being wrong.
	for _, s := range sets[1:] {
		if !equalMaps(sets[0], s) {
			v.Identical = false
		}
	}

	for _, s := range v.Systems {
		verdict := "identical to the expected output"
		switch {
		case s.Explained:
			verdict = fmt.Sprintf("%d events short in %d windows (%d missing): exactly the %d events it reported as late",
				s.Shortfall, s.Differs, s.Missing, s.Late)
		case s.Undercount:
			verdict = fmt.Sprintf("DIFFERS: %d events short in %d windows (%d missing), but it reported %d late events",
				s.Shortfall, s.Differs, s.Missing, s.Late)
		case !s.Match:
			verdict = fmt.Sprintf("DIFFERS: %d missing, %d unexpected, %d with another value", s.Missing, s.Unexpected, s.Differs)
		}
		fmt.Fprintf(os.Stderr, "  verify: %-6s %d records (%d distinct, %d duplicates, %d conflicts), %d events counted: %s\n",
			s.Name, s.Records, s.Distinct, s.Duplicates, s.Conflicts, s.EventsCounted, verdict)
		for _, e := range s.Examples {
			fmt.Fprintln(os.Stderr, "           ", e)
		}
	}
	fmt.Fprintf(os.Stderr, "  verify: expected %d window records counting %d events; all systems identical: %v\n",
		v.Expected, v.ExpectedEvents, v.Identical)

	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(*out, append(b, '\n'), 0o644); err != nil {
		return err
	}
	if !v.OK {
		return errors.New("the outputs do not match")
	}
	return nil
}

// readExpected reads expected records into key → value and sums their counts.
func readExpected(path string) (map[string]string, int64, error) {
	exp, err := readRecords(path)
	if err != nil {
		return nil, 0, err
	}
	want := map[string]string{}
	var events int64
	for _, r := range exp {
		want[r.key] = r.value
		s, err := serde.StatisticsCodec{}.Decode([]byte(r.value))
		if err != nil {
			return nil, 0, fmt.Errorf("expected record %s: %w", r.key, err)
		}
		events += s.Count
	}
	return want, events, nil
}

func compare(name string, want map[string]string, got []record) Verification {
	v := Verification{Name: name, Records: len(got)}
	lower := true // every differing value is the expected one with a lower count
	distinct := map[string]string{}
	example := func(format string, args ...any) {
		if len(v.Examples) < 5 {
			v.Examples = append(v.Examples, fmt.Sprintf(format, args...))
		}
	}
	for _, r := range got {
		prev, dup := distinct[r.key]
		switch {
		case dup && prev == r.value:
			v.Duplicates++
			continue
		case dup:
			v.Conflicts++
			example("conflict %s: %s then %s", r.key, prev, r.value)
			continue
		}
		distinct[r.key] = r.value
		s, err := serde.StatisticsCodec{}.Decode([]byte(r.value))
		if err != nil {
			v.Undecodable++
			example("undecodable %s: %v", r.key, err)
		} else {
			v.EventsCounted += s.Count
		}
		w, ok := want[r.key]
		switch {
		case !ok:
			v.Unexpected++
			example("unexpected %s: %s", r.key, r.value)
		case w != r.value:
			v.Differs++
			example("differs %s: want %s, got %s", r.key, w, r.value)
			if ws, err := (serde.StatisticsCodec{}).Decode([]byte(w)); err != nil || s.Count >= ws.Count ||
				!bytes.Equal(serde.AppendStatistics(nil, withCount(s, ws.Count)), []byte(w)) {
				lower = false
			}
		}
	}
	v.Distinct = len(distinct)
	var missing []string
	for k := range want {
		if _, ok := distinct[k]; !ok {
			missing = append(missing, k)
		}
	}
	sort.Strings(missing)
	v.Missing = len(missing)
	for _, k := range missing {
		example("missing %s: %s", k, want[k])
	}
	v.Match = v.Missing == 0 && v.Unexpected == 0 && v.Differs == 0 && v.Undecodable == 0
	v.Undercount = !v.Match && lower && v.Unexpected == 0 && v.Undecodable == 0 && v.Conflicts == 0
	return v
}

func withCount(s model.VehicleStatistics, n int64) model.VehicleStatistics {
	s.Count = n
	return s
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}
