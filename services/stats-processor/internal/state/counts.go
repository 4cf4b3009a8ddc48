package state

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/vehicle-stats/vehicle-stats/pkg/model"
	"github.com/vehicle-stats/vehicle-stats/services/stats-processor/internal/eventtime"
)

// encodeCounts writes counts as comma-separated decimals in type order.
func encodeCounts(c eventtime.Counts) string {
	b := make([]byte, 0, 32)
	for i, n := range c {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, n, 10)
	}
	return string(b)
}

func decodeCounts(s string) (eventtime.Counts, error) {
	var c eventtime.Counts
	parts := strings.Split(s, ",")
	if len(parts) != model.NumVehicleTypes {
		return c, fmt.Errorf("counts %q: want %d fields", s, model.NumVehicleTypes)
	}
	for i, p := range parts {
		n, err := strconv.ParseInt(p, 10, 64)
		if err != nil || n < 0 {
			return c, fmt.Errorf("counts %q: field %d is not a count", s, i)
		}
		c[i] = n
	}
	return c, nil
}

const windowField = "w:"

func parseWindowField(f string) (int64, bool) {
	if !strings.HasPrefix(f, windowField) {
		return 0, false
	}
	start, err := strconv.ParseInt(f[len(windowField):], 10, 64)
	return start, err == nil
}

func parseOptInt(s string, ok bool, missing int64) (int64, error) {
	if !ok || s == "" {
		return missing, nil
	}
	return strconv.ParseInt(s, 10, 64)
}
