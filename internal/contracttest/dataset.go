package contracttest

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/vehicle-stats/vehicle-stats/pkg/model"
	"github.com/vehicle-stats/vehicle-stats/pkg/serde"
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
	// RFC3339UTC: "2026-11-21T23:45:05.123Z", the form vehicle-producer
	// writes (serde.AppendTimestamp) and the benchmarks' loaders use, which
	// the Java reference jobs read too.
	RFC3339UTC
)

// datasetForms are the forms Dataset draws from.
var datasetForms = []TimeForm{RFC3339Offset, DecimalSeconds, EpochMillis}

// Timestamp is the JSON value of event time et (epoch ms) in form f.
func Timestamp(et int64, f TimeForm) string {
	return string(AppendTimestamp(nil, et, f))
}

// AppendTimestamp appends the JSON value of event time et (epoch ms) in
// form f to dst. EpochMillis is the contract's millisecond form only from
// 1e11 ms (March 1973) on: a smaller number is read as seconds, and
// DecimalSeconds only below 1e11 s (the year 5138); RFC3339Offset's +02:00
// takes the last two hours of the year 9999 past it.
func AppendTimestamp(dst []byte, et int64, f TimeForm) []byte {
	switch f {
	case RFC3339Offset:
		dst = append(dst, '"')
		dst = model.TimeFromMillis(et).In(time.FixedZone("", 2*3600)).AppendFormat(dst, "2006-01-02T15:04:05.000-07:00")
		return append(dst, '"')
	case DecimalSeconds:
		// The number's value is the time in seconds: -1 ms is -0.001.
		abs := et
		if et < 0 {
			dst, abs = append(dst, '-'), -et
		}
		ms := abs % 1000
		dst = append(strconv.AppendInt(dst, abs/1000, 10), '.', byte('0'+ms/100), byte('0'+ms/10%10), byte('0'+ms%10))
		return append(dst, "000000"...)
	case RFC3339UTC:
		dst = append(dst, '"')
		dst = serde.AppendTimestampMillis(dst, et)
		return append(dst, '"')
	default:
		return strconv.AppendInt(dst, et, 10)
	}
}

// AppendVehicle appends the JSON value of one valid vehicle record to dst:
// plate (non-empty), sticker, event time et (epoch ms) in form f, type typ.
// Plate and sticker are quoted as strconv.Quote does, which is JSON for
// printable ASCII, all that Plate and StickerID draw. It is the one writer
// of vehicle records for every generator: Dataset and the benchmarks'
// loaders.
func AppendVehicle(dst []byte, plate, sticker string, et int64, typ model.VehicleType, f TimeForm) []byte {
	dst = strconv.AppendQuote(append(dst, `{"plateNumber":`...), plate)
	dst = strconv.AppendQuote(append(dst, `,"vignetteStickerId":`...), sticker)
	dst = AppendTimestamp(append(dst, `,"timestamp":`...), et, f)
	dst = append(append(dst, `,"vehicleType":"`...), typ.String()...)
	return append(dst, `"}`...)
}

// NewRecord is a valid vehicle record: plate (also the key), sticker
// "s-i", event time et written in form f, type typ.
func NewRecord(partition int, plate string, i int, et int64, typ model.VehicleType, f TimeForm) Record {
	v := AppendVehicle(nil, plate, "s-"+strconv.Itoa(i), et, typ, f)
	return Record{Partition: partition, Key: plate, Value: v, EventTime: et, Type: typ}
}

// MixedType draws the benchmarks' mix of vehicle types: 87% cars, 11%
// trucks, 1% buses, 0.6% vans, 0.4% motorcycles.
func MixedType(rng *rand.Rand) model.VehicleType {
	switch x := rng.IntN(1000); {
	case x < 870:
		return model.Car
	case x < 980:
		return model.Truck
	case x < 990:
		return model.Bus
	case x < 996:
		return model.Van
	default:
		return model.Motorcycle
	}
}

var (
	plateRegions = []string{"A", "B", "BH", "BP", "BT", "C", "CA", "CB", "CH", "CM", "CO", "CC", "CT", "E", "EB", "EH", "H", "K", "KH", "M", "OB", "P", "PA", "PB", "PK", "PP", "T", "TX", "X", "Y"}
	plateLetters = "ABEKMHOPCTYX"
)

// Plate draws a Bulgarian-style plate number such as CA1234AB.
func Plate(rng *rand.Rand) string {
	b := make([]byte, 0, 8)
	b = append(b, plateRegions[rng.IntN(len(plateRegions))]...)
	d := rng.IntN(10000)
	b = append(b, byte('0'+d/1000), byte('0'+d/100%10), byte('0'+d/10%10), byte('0'+d%10))
	b = append(b, plateLetters[rng.IntN(len(plateLetters))], plateLetters[rng.IntN(len(plateLetters))])
	return string(b)
}

// StickerID draws a vignette sticker id: a random (version 4) UUID.
func StickerID(rng *rand.Rand) string {
	var u [16]byte
	for i := 0; i < 16; i += 8 {
		x := rng.Uint64()
		for j := range 8 {
			u[i+j] = byte(x >> (8 * j))
		}
	}
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	const hex = "0123456789abcdef"
	out := make([]byte, 0, 36)
	for i, c := range u {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			out = append(out, '-')
		}
		out = append(out, hex[c>>4], hex[c&0x0f])
	}
	return string(out)
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
// timestamps take the forms RFC3339Offset, DecimalSeconds and EpochMillis.
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
			out[p] = append(out[p], NewRecord(p, plate, i, et, types[ti], datasetForms[rng.IntN(len(datasetForms))]))
		}
	}
	return out
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
