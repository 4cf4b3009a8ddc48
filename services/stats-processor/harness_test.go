package main_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/vehicle-stats/vehicle-stats/internal/contracttest"
	"github.com/vehicle-stats/vehicle-stats/internal/testenv"
	"github.com/vehicle-stats/vehicle-stats/pkg/model"
	"github.com/vehicle-stats/vehicle-stats/pkg/serde"
)

// The end-to-end tests run the built binary against the real broker and
// Redis, feed it a deterministic dataset, and compare the output topic and
// /stats with counts the test computes on its own from the same dataset.

// scenario is one pipeline under test: its topics, group, key prefix and
// processor settings (testenv.E2EProcessor), and the instances started.
type scenario struct {
	t      *testing.T
	env    testenv.Services
	cfg    testenv.ProcessorConfig
	window time.Duration
	ooo    time.Duration
}

func newScenario(t *testing.T, partitions int) *scenario {
	return newScenarioOn(t, testenv.Get(t), partitions)
}

// newScenarioOn runs the scenario on the given services (private ones for
// outage tests).
func newScenarioOn(t *testing.T, env testenv.Services, partitions int) *scenario {
	cfg := env.E2EProcessor(t, "e2e", partitions)
	return &scenario{t: t, env: env, cfg: cfg, window: cfg.Window, ooo: cfg.MaxOutOfOrderness}
}

// start starts one more instance of the pipeline.
func (s *scenario) start(name string) *testenv.Processor {
	s.t.Helper()
	return testenv.StartProcessor(s.t, name, s.cfg)
}

// stop sends SIGTERM and requires a clean exit 0 within 10 s.
func stop(t *testing.T, p *testenv.Processor) {
	t.Helper()
	if err := p.Stop(10 * time.Second); err != nil {
		t.Fatalf("%v\n%s", err, p.Tail(30))
	}
}

// record is one input record of the dataset.
type record struct {
	partition int
	key       string
	value     []byte
	bad       bool
	eventTime int64
	typ       model.VehicleType
	// recordTime is the Kafka record's timestamp in epoch ms; 0: the time
	// of writing.
	recordTime int64
	// wantError is a text the dead letter's error header must contain.
	wantError string
}

// dataset builds a deterministic input: per partition, event times that
// mostly advance, sometimes step back within the out-of-orderness bound,
// sometimes far back (late), and bad records of many kinds.
func dataset(seed uint64, partitions, perPartition int, base int64, ooo time.Duration) [][]record {
	rng := rand.New(rand.NewPCG(seed, 99))
	types := model.VehicleTypes()
	weights := []int{80, 12, 3, 3, 2}
	bad := []func(i int) string{
		func(int) string {
			return `{"plateNumber":"CA1","vignetteStickerId":"x","timestamp":"2026-11-21T23:45:05Z","vehicleType":"BIKE"}`
		},
		func(int) string { return `{"plateNumber":"","timestamp":"2026-11-21T23:45:05Z","vehicleType":"CAR"}` },
		func(int) string { return `{"plateNumber":"CA1","timestamp":"yesterday","vehicleType":"CAR"}` },
		func(int) string { return `{"plateNumber":"CA1","vehicleType":"CAR"}` },
		func(int) string { return `not json at all` },
		func(int) string { return `` },
		func(int) string { return `{"plateNumber":"CA1","timestamp":1629123456,"vehicleType":"CAR"} trailing` },
		func(int) string { return `{"plateNumber":"CA1","timestamp":1e400,"vehicleType":"CAR"}` },
		func(int) string {
			return `{"plateNumber":"CA1","plateNumber":"CA2","timestamp":1629123456,"vehicleType":"CAR"}`
		},
		func(int) string { return "{\"plateNumber\":\"\xff\",\"timestamp\":1629123456,\"vehicleType\":\"CAR\"}" },
		func(int) string { return `[1,2,3]` },
		func(int) string { return `{"plateNumber":"CA1","timestamp":"2026-11-21T23:45:05Z","vehicleType":null}` },
	}
	out := make([][]record, partitions)
	for p := range partitions {
		tm := base + int64(rng.IntN(5000))
		for i := range perPartition {
			plate := fmt.Sprintf("P%d-%05d", p, i)
			if rng.IntN(50) == 0 {
				v := bad[rng.IntN(len(bad))](i)
				out[p] = append(out[p], record{partition: p, key: plate, value: []byte(v), bad: true})
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
			typ := types[ti]
			// Mix timestamp forms: RFC 3339 with an offset, Jackson decimal seconds, epoch ms.
			var ts string
			switch rng.IntN(3) {
			case 0:
				ts = `"` + model.TimeFromMillis(et).In(time.FixedZone("", 2*3600)).Format("2006-01-02T15:04:05.000-07:00") + `"`
			case 1:
				ts = fmt.Sprintf("%d.%03d000000", floorDiv(et, 1000), et-floorDiv(et, 1000)*1000)
			default:
				ts = strconv.FormatInt(et, 10)
			}
			v := fmt.Sprintf(`{"plateNumber":%q,"vignetteStickerId":"s-%d","timestamp":%s,"vehicleType":%q}`, plate, i, ts, typ)
			out[p] = append(out[p], record{partition: p, key: plate, value: []byte(v), eventTime: et, typ: typ})
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

// expected is the contract's result for the dataset (contracttest's
// oracle), and how many records are bad.
func expected(data [][]record, window, ooo time.Duration) (counts map[contracttest.Key]int64, late, bad int) {
	var events []contracttest.Event
	for _, part := range data {
		for _, r := range part {
			if r.bad {
				bad++
				continue
			}
			events = append(events, contracttest.Event{Partition: r.partition, Time: r.eventTime, Type: r.typ})
		}
	}
	counts, late = contracttest.Expected(events, window, ooo)
	return counts, late, bad
}

// produce writes records to their partitions, in order, acks=all.
func (s *scenario) produce(ctx context.Context, recs []record) {
	s.t.Helper()
	w := &kafka.Writer{
		Addr: kafka.TCP(s.env.Brokers...), Topic: s.cfg.Input, RequiredAcks: kafka.RequireAll,
		Balancer: kafka.BalancerFunc(func(m kafka.Message, _ ...int) int {
			n, _ := strconv.Atoi(string(m.Headers[0].Value))
			return n
		}),
		BatchSize: 5000, BatchTimeout: 2 * time.Millisecond, MaxAttempts: 10,
	}
	defer w.Close()
	msgs := make([]kafka.Message, len(recs))
	for i, r := range recs {
		msgs[i] = kafka.Message{Key: []byte(r.key), Value: r.value, Headers: []kafka.Header{{Key: "p", Value: []byte(strconv.Itoa(r.partition))}}}
		if r.recordTime != 0 {
			msgs[i].Time = time.UnixMilli(r.recordTime)
		}
	}
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		s.t.Fatalf("produce: %v", err)
	}
}

// interleave flattens the partitions' records into chunks, keeping each
// partition's order.
func interleave(data [][]record, chunk int) [][]record {
	var out [][]record
	pos := make([]int, len(data))
	for {
		var c []record
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

// readAll reads a whole topic from the start up to its current end.
func readAll(t *testing.T, brokers []string, topic string) []kafka.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := kafka.DialLeader(ctx, "tcp", brokers[0], topic, 0)
	if err != nil {
		t.Fatalf("dial %s: %v", topic, err)
	}
	defer conn.Close()
	last, err := conn.ReadLastOffset()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Seek(0, kafka.SeekAbsolute); err != nil {
		t.Fatal(err)
	}
	var out []kafka.Message
	for int64(len(out)) < last {
		conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		b := conn.ReadBatch(1, 10<<20)
		for {
			m, err := b.ReadMessage()
			if err != nil {
				break
			}
			out = append(out, m)
		}
		b.Close()
	}
	return out
}

// waitOutput waits until every expected (window, type) record is on the
// output topic, then checks the topic: each key once per value, byte-exact
// against the expectation, nothing unexpected.
func (s *scenario) waitOutput(want map[contracttest.Key]int64) {
	t := s.t
	t.Helper()
	deadline := time.Now().Add(120 * time.Second)
	for {
		msgs := readAll(t, s.env.Brokers, s.cfg.Output)
		keys := map[string]bool{}
		for _, m := range msgs {
			keys[string(m.Key)] = true
		}
		if len(keys) >= len(want) {
			s.checkOutput(msgs, want)
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 120 s only %d of %d window records are on the output topic", len(keys), len(want))
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func (s *scenario) checkOutput(msgs []kafka.Message, want map[contracttest.Key]int64) {
	t := s.t
	t.Helper()
	size := s.window.Milliseconds()
	byKey := map[string][]byte{}
	dups := 0
	for _, m := range msgs {
		if prev, ok := byKey[string(m.Key)]; ok {
			dups++
			if !bytes.Equal(prev, m.Value) {
				t.Errorf("key %s written with two different values:\n  %s\n  %s", m.Key, prev, m.Value)
			}
			continue
		}
		byKey[string(m.Key)] = m.Value
		st, err := serde.StatisticsCodec{}.Decode(m.Value)
		if err != nil {
			t.Errorf("output %s: %v", m.Value, err)
			continue
		}
		start := st.Start.UnixMilli()
		if want := fmt.Sprintf("%s:%d", st.VehicleType, start); string(m.Key) != want {
			t.Errorf("output key %s for value %s, want %s", m.Key, m.Value, want)
		}
		if st.End.UnixMilli() != start+size || m.Time.UnixMilli() != start+size-1 {
			t.Errorf("output %s: bad end or record time %v", m.Value, m.Time)
		}
		exp := model.VehicleStatistics{Start: st.Start, End: st.End, VehicleType: st.VehicleType, Count: want[contracttest.Key{Start: start, Type: st.VehicleType}]}
		if golden := serde.AppendStatistics(nil, exp); !bytes.Equal(golden, m.Value) {
			t.Errorf("output %s\n          want %s", m.Value, golden)
		}
	}
	for k, n := range want {
		key := fmt.Sprintf("%s:%d", k.Type, k.Start)
		if _, ok := byKey[key]; !ok {
			t.Errorf("missing output for %s (count %d)", key, n)
		}
	}
	t.Logf("output: %d records, %d distinct keys, %d byte-identical repeats", len(msgs), len(byKey), dups)
}

// checkDeadLetters requires every bad record, and nothing else, in the
// dead-letter topic with the contract's headers.
func (s *scenario) checkDeadLetters(data [][]record) {
	t := s.t
	t.Helper()
	wantBad := map[string][]byte{}
	wantError := map[string]string{}
	for _, part := range data {
		for _, r := range part {
			if r.bad {
				wantBad[r.key] = r.value
				wantError[r.key] = r.wantError
			}
		}
	}
	got := map[string]bool{}
	for _, m := range readAll(t, s.env.Brokers, s.cfg.DeadLetter) {
		h := map[string]string{}
		for _, x := range m.Headers {
			h[x.Key] = string(x.Value)
		}
		v, ok := wantBad[string(m.Key)]
		if !ok {
			t.Errorf("dead letter %s %q was a good record", m.Key, m.Value)
			continue
		}
		if !bytes.Equal(v, m.Value) || h["error"] == "" || h["source-topic"] != s.cfg.Input || h["source-partition"] == "" || h["source-offset"] == "" {
			t.Errorf("dead letter %s: value %q headers %v", m.Key, m.Value, h)
		}
		if want := wantError[string(m.Key)]; !strings.Contains(h["error"], want) {
			t.Errorf("dead letter %s: error %q, want it to contain %q", m.Key, h["error"], want)
		}
		got[string(m.Key)] = true
	}
	if len(got) != len(wantBad) {
		t.Errorf("%d of %d bad records reached the dead-letter topic", len(got), len(wantBad))
	}
}

// checkStats compares /stats with the expectation for the newest windows.
func (s *scenario) checkStats(addr string, want map[contracttest.Key]int64) {
	t := s.t
	t.Helper()
	totals := map[int64]map[string]int64{}
	for k, n := range want {
		if totals[k.Start] == nil {
			totals[k.Start] = map[string]int64{}
		}
		totals[k.Start][k.Type.String()] = n
	}
	resp, err := http.Get("http://" + addr + "/stats?limit=1000")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st struct {
		Windows []struct {
			Start  time.Time        `json:"start"`
			Closed bool             `json:"closed"`
			Counts map[string]int64 `json:"counts"`
			Total  int64            `json:"total"`
		} `json:"windows"`
	}
	if err := json.NewDecoder(bufio.NewReader(resp.Body)).Decode(&st); err != nil {
		t.Fatal(err)
	}
	if len(st.Windows) != min(len(totals), 1000) {
		t.Errorf("/stats lists %d windows, want %d", len(st.Windows), len(totals))
	}
	for _, w := range st.Windows {
		exp := totals[w.Start.UnixMilli()]
		if !w.Closed || fmt.Sprint(exp) != fmt.Sprint(w.Counts) {
			t.Errorf("/stats window %s closed=%v counts %v, want closed %v", w.Start, w.Closed, w.Counts, exp)
		}
	}
}

// waitStatsClosed waits until /stats lists every window of want as closed
// (at most 90 s), then checks it with checkStats.
func (s *scenario) waitStatsClosed(addr string, want map[contracttest.Key]int64) {
	s.t.Helper()
	starts := map[int64]bool{}
	for k := range want {
		starts[k.Start] = true
	}
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		var st struct {
			Windows []struct {
				Start  time.Time `json:"start"`
				Closed bool      `json:"closed"`
			} `json:"windows"`
		}
		if err := json.Unmarshal([]byte(get(s.t, "http://"+addr+"/stats?limit=1000")), &st); err == nil {
			closed := 0
			for _, w := range st.Windows {
				if w.Closed && starts[w.Start.UnixMilli()] {
					closed++
				}
			}
			if closed == len(starts) {
				break
			}
		}
		time.Sleep(500 * time.Millisecond)
	}
	s.checkStats(addr, want)
}

// checkMetrics requires the late and dead-letter counters of one instance to
// equal the expectation.
func (s *scenario) checkMetrics(addr string, late, bad int) {
	s.t.Helper()
	metrics := get(s.t, "http://"+addr+"/metrics")
	if line := "stats_processor_late_events_total " + itoa(late); !strings.Contains(metrics, line+"\n") {
		s.t.Errorf("metrics lack %q", line)
	}
	// Dead letters are counted by reason: their sum.
	dead := 0.0
	for _, line := range strings.Split(metrics, "\n") {
		if strings.HasPrefix(line, "stats_processor_dead_letters_total{") {
			f := strings.Fields(line)
			v, _ := strconv.ParseFloat(f[len(f)-1], 64)
			dead += v
		}
	}
	if dead != float64(bad) {
		s.t.Errorf("stats_processor_dead_letters_total adds up to %v over its reasons, want %d", dead, bad)
	}
}
