package live

import (
	"os"
	"strings"
	"testing"
	"time"
)

// TestParseStat: utime + stime, also behind a command name with spaces and
// parentheses; malformed lines are errors.
func TestParseStat(t *testing.T) {
	rest := " S 1 2 3 0 -1 4194560 100 0 0 0 250 37 0 0 20 0 9 0 1000 0 0"
	for _, tc := range []struct {
		name, line string
		want       time.Duration
		err        string
	}{
		{"java", "4242 (java)" + rest, 2870 * time.Millisecond, ""},
		{"a name with ') ('", "7 (a) (b c)" + rest, 2870 * time.Millisecond, ""},
		{"no name", "4242 java" + rest, 0, "without a command name"},
		{"short", "4242 (java) S 1 2 3", 0, "with 4 fields"},
		{"not a number", "4242 (java) S 1 2 3 0 -1 4194560 100 0 0 0 x 37", 0, `utime/stime "x"`},
	} {
		got, err := parseStat(tc.line)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: error %v, want one with %q", tc.name, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%s: %s, %v; want %s", tc.name, got, err, tc.want)
		}
	}
}

// TestParseHWM: the VmHWM line in bytes; a missing or odd one is an error.
func TestParseHWM(t *testing.T) {
	status := "Name:\tjava\nVmPeak:\t 3000000 kB\nVmHWM:\t  307200 kB\nVmRSS:\t  300000 kB\n"
	if got, err := parseHWM(status); err != nil || got != 300<<20 {
		t.Errorf("VmHWM: %d, %v; want %d", got, err, 300<<20)
	}
	for _, bad := range []string{"Name:\tjava\n", "VmHWM:\t 12 MB\n", "VmHWM:\t x kB\n"} {
		if _, err := parseHWM(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

// TestReadUsage reads this test's own process: some CPU, some memory.
func TestReadUsage(t *testing.T) {
	u, err := ReadUsage([]int{os.Getpid()})
	if err != nil || u.PeakRSS <= 0 {
		t.Fatalf("own usage %+v, %v", u, err)
	}
	if _, err := ReadUsage([]int{-1}); err == nil {
		t.Error("usage of process -1: no error")
	}
}
