package live

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// clockTick is the unit of utime and stime in /proc/<pid>/stat: USER_HZ,
// 100 on every Linux this runs on.
const clockTick = 10 * time.Millisecond

// Usage is what a system's processes used, summed over them.
type Usage struct {
	// CPU is user + system time.
	CPU time.Duration
	// PeakRSS is the sum of the processes' peak resident sets (VmHWM), bytes.
	PeakRSS int64
}

// ReadUsage reads the usage of the processes pids so far from /proc.
func ReadUsage(pids []int) (Usage, error) {
	var u Usage
	for _, pid := range pids {
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return u, fmt.Errorf("read CPU time of process %d: %w", pid, err)
		}
		status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
		if err != nil {
			return u, fmt.Errorf("read peak RSS of process %d: %w", pid, err)
		}
		cpu, err := parseStat(string(stat))
		if err != nil {
			return u, fmt.Errorf("process %d: %w", pid, err)
		}
		rss, err := parseHWM(string(status))
		if err != nil {
			return u, fmt.Errorf("process %d: %w", pid, err)
		}
		u.CPU += cpu
		u.PeakRSS += rss
	}
	return u, nil
}

// parseStat is the user + system time of a /proc/<pid>/stat line. The
// command name (field 2, in parentheses) may hold spaces and parentheses,
// so the fields are counted after its last ')': utime and stime are fields
// 14 and 15.
func parseStat(s string) (time.Duration, error) {
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, errors.New("/proc stat without a command name in parentheses")
	}
	f := strings.Fields(s[i+1:]) // f[0] is field 3
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc stat with %d fields after the command name, want at least 13", len(f))
	}
	var ticks int64
	for _, v := range f[11:13] {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc stat utime/stime %q: %w", v, err)
		}
		ticks += n
	}
	return time.Duration(ticks) * clockTick, nil
}

// parseHWM is the VmHWM of a /proc/<pid>/status text, in bytes.
func parseHWM(s string) (int64, error) {
	for _, line := range strings.Split(s, "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			f := strings.Fields(v)
			if len(f) != 2 || f[1] != "kB" {
				return 0, fmt.Errorf("/proc status VmHWM %q: want \"N kB\"", strings.TrimSpace(v))
			}
			kb, err := strconv.ParseInt(f[0], 10, 64)
			if err != nil {
				return 0, fmt.Errorf("/proc status VmHWM: %w", err)
			}
			return kb << 10, nil
		}
	}
	return 0, errors.New("/proc status without VmHWM")
}
