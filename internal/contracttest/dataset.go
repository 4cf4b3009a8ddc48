package contracttest

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/vehicle-stats/vehicle-stats/pkg/model"
)

// Record is one input record of a dataset and what the contract says
// becomes of it.
type Record struct {
	Partition int
	Key       string
	Value     []byte
	// Bad: the record belongs on the dead-letter topic; EventTime and Type
	// are then unset.
	Bad       bool
	EventTime int64
	Type      model.VehicleType
	// RecordTime is the Kafka record's timestamp in epoch ms; 0: the time
	// of writing.
	RecordTime int64
	// WantError is a text the dead letter's error header must contain.
	WantError string
}

// TimeForm is one of the forms the contract accepts for a timestamp.
type TimeForm int

// The timestamp forms of the contract.
const (
	// RFC3339Offset: "2026-11-21T23:45:05.123+02:00", a string.
	RFC3339Offset TimeForm = iota
	// DecimalSeconds: 1795304705.123000000, Jackson's default for an
	// Instant.
	DecimalSeconds
	// EpochMillis: 1795304705123.
	EpochMillis
	numTimeForms
)

// Timestamp is the JSON value of event time et (epoch ms) in form f.
func Timestamp(et int64, f TimeForm) string {
	switch f {
	case RFC3339Offset:
		return `"` + model.TimeFromMillis(et).In(time.FixedZone("", 2*3600)).Format("2006-01-02T15:04:05.000-07:00") + `"`
	case DecimalSeconds:
		s := floorDiv(et, 1000)
		return fmt.Sprintf("%d.%03d000000", s, et-s*1000)
	default:
		return strconv.FormatInt(et, 10)
	}
}

// NewRecord is a valid vehicle record: plate (also the key), sticker
// "s-i", event time et written in form f, type typ.
func NewRecord(partition int, plate string, i int, et int64, typ model.VehicleType, f TimeForm) Record {
	v := fmt.Sprintf(`{"plateNumber":%q,"vignetteStickerId":"s-%d","timestamp":%s,"vehicleType":%q}`, plate, i, Timestamp(et, f), typ)
	return Record{Partition: partition, Key: plate, Value: []byte(v), EventTime: et, Type: typ}
}

// BadValues are values of each kind of bad record the contract sends to the
// dead-letter topic: an unknown type, an empty plate, an unreadable or
// missing timestamp, not JSON, empty, trailing data, a number out of range,
// a duplicate key, invalid UTF-8, not an object, a null type.
var BadValues = []string{
	`{"plateNumber":"CA1","vignetteStickerId":"x","timestamp":"2026-11-21T23:45:05Z","vehicleType":"BIKE"}`,
	`{"plateNumber":"","timestamp":"2026-11-21T23:45:05Z","vehicleType":"CAR"}`,
	`{"plateNumber":"CA1","timestamp":"yesterday","vehicleType":"CAR"}`,
	`{"plateNumber":"CA1","vehicleType":"CAR"}`,
	`not json at all`,
	``,
	`{"plateNumber":"CA1","timestamp":1629123456,"vehicleType":"CAR"} trailing`,
	`{"plateNumber":"CA1","timestamp":1e400,"vehicleType":"CAR"}`,
	`{"plateNumber":"CA1","plateNumber":"CA2","timestamp":1629123456,"vehicleType":"CAR"}`,
	"{\"plateNumber\":\"\xff\",\"timestamp\":1629123456,\"vehicleType\":\"CAR\"}",
	`[1,2,3]`,
	`{"plateNumber":"CA1","timestamp":"2026-11-21T23:45:05Z","vehicleType":null}`,
}

// Dataset builds a deterministic input from seed: per partition,
// perPartition records whose event times start near base (epoch ms) and
// mostly advance, sometimes step back within the out-of-orderness bound
// ooo, sometimes far back (late unless their window is still open); about
// one in fifty is a bad record of one of the BadValues kinds, and the
// timestamps take every TimeForm.
func Dataset(seed uint64, partitions, perPartition int, base int64, ooo time.Duration) [][]Record {
	rng := rand.New(rand.NewPCG(seed, 99))
	types := model.VehicleTypes()
	weights := []int{80, 12, 3, 3, 2}
	out := make([][]Record, partitions)
	for p := range partitions {
		tm := base + int64(rng.IntN(5000))
		for i := range perPartition {
			plate := fmt.Sprintf("P%d-%05d", p, i)
			if rng.IntN(50) == 0 {
				v := BadValues[rng.IntN(len(BadValues))]
				out[p] = append(out[p], Record{Partition: p, Key: plate, Value: []byte(v), Bad: true})
				continue
			}
			tm += int64(rng.IntN(700))
			et := tm
			switch r := rng.IntN(100); {
			case r < 8: // out of order within the bound
				et = tm - int64(rng.IntN(int(ooo.Milliseconds())+1))
			case r < 10: // far back: late unless its window is still open
				et = tm - 20_000 - int64(rng.IntN(60_000))
			}
			w := rng.IntN(100)
			ti := 0
			for acc := weights[0]; w >= acc; acc += weights[ti] {
				ti++
			}
			out[p] = append(out[p], NewRecord(p, plate, i, et, types[ti], TimeForm(rng.IntN(int(numTimeForms)))))
		}
	}
	return out
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

// Interleave flattens the partitions' records into chunks of up to chunk
// records per partition, keeping each partition's order.
func Interleave(data [][]Record, chunk int) [][]Record {
	var out [][]Record
	pos := make([]int, len(data))
	for {
		var c []Record
		for p := range data {
			end := min(pos[p]+chunk, len(data[p]))
			c = append(c, data[p][pos[p]:end]...)
			pos[p] = end
		}
		if len(c) == 0 {
			return out
		}
		out = append(out, c)
	}
}

// ExpectedRecords is the contract's result for a dataset (Expected over its
// good records), and how many records are bad.
func ExpectedRecords(data [][]Record, window, ooo time.Duration) (counts map[Key]int64, late, bad int) {
	t := NewTally(window, ooo)
	for _, part := range data {
		for _, r := range part {
			if r.Bad {
				bad++
				continue
			}
			t.Add(Event{Partition: r.Partition, Time: r.EventTime, Type: r.Type})
		}
	}
	return t.Counts(), t.Late(), bad
}
