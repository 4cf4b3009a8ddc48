package main_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/vehicle-stats/vehicle-stats/internal/contracttest"
	"github.com/vehicle-stats/vehicle-stats/pkg/model"
)

// TestE2EFarFutureEvent: live traffic on two partitions, and among it one
// record stamped 9999-12-31T23:59:59Z (a camera whose clock reset wrongly),
// plus two records at the watermark.max_future bound (1h, the default): one
// exactly 1h ahead of its Kafka record's timestamp (counted) and one 1 ms
// more (dead letter). Everything else must be counted exactly, the
// far-future records must be in the dead-letter topic with the contract's
// headers and the reason, and no window may close beyond the data.
func TestE2EFarFutureEvent(t *testing.T) {
	s := newScenario(t, 2)
	data := contracttest.Dataset(17, 2, 1500, base(), s.ooo)
	const hour = int64(time.Hour / time.Millisecond)
	inject := func(p, at int, r contracttest.Record) {
		r.Partition = p
		data[p] = slices.Insert(data[p], at, r)
	}
	lastGood := func(p, before int) contracttest.Record {
		for i := before - 1; i >= 0; i-- {
			if !data[p][i].Bad {
				return data[p][i]
			}
		}
		t.Fatal("no good record before", before)
		return contracttest.Record{}
	}
	value := func(plate, ts string) []byte {
		return fmt.Appendf(nil, `{"plateNumber":%q,"vignetteStickerId":"x","timestamp":%s,"vehicleType":"CAR"}`, plate, ts)
	}
	inject(0, 300, contracttest.Record{Key: "FUTURE-9999", Value: value("FUTURE-9999", `"9999-12-31T23:59:59Z"`), Bad: true,
		WantError: "event time 9999-12-31T23:59:59.000Z is more than 1h0m0s ahead of the record timestamp"})
	// At the bound: the event time is the partition's stream time (so it is
	// neither late nor early), the record's timestamp an hour before it.
	at := lastGood(1, 500).EventTime
	inject(1, 500, contracttest.Record{Key: "AT-BOUND", Value: value("AT-BOUND", fmt.Sprint(at)), EventTime: at, Type: model.Car, RecordTime: at - hour})
	at = lastGood(1, 700).EventTime
	inject(1, 700, contracttest.Record{Key: "BEYOND-BOUND", Value: value("BEYOND-BOUND", fmt.Sprint(at)), Bad: true, RecordTime: at - hour - 1,
		WantError: "is more than 1h0m0s ahead of the record timestamp " + model.TimeFromMillis(at-hour-1).Format("2006-01-02T15:04:05.000Z")})

	want, late, bad := contracttest.ExpectedRecords(data, s.window, s.ooo)
	t.Logf("dataset: %d windows x types, %d late, %d bad (3 of them at or beyond max_future)", len(want), late, bad)
	ctx := context.Background()
	chunks := contracttest.Interleave(data, 50)
	s.produce(ctx, chunks[0])
	p := s.start("future")
	for _, c := range chunks[1:] { // live: the processor reads as it is written
		s.produce(ctx, c)
		time.Sleep(100 * time.Millisecond)
	}
	s.waitOutput(want)
	s.checkDeadLetters(data)
	s.checkStats(p.Addr, want)

	s.checkMetrics(p.Addr, late, bad)
	// The pipeline watermark is the wall clock's (every partition idle), not
	// year 9999.
	resp, err := http.Get("http://" + p.Addr + "/stats?limit=1")
	if err != nil {
		t.Fatal(err)
	}
	var st struct {
		Watermark time.Time `json:"watermark"`
	}
	err = json.NewDecoder(resp.Body).Decode(&st)
	resp.Body.Close()
	if err != nil || st.Watermark.After(time.Now()) {
		t.Errorf("/stats watermark %v (%v): want one in the past", st.Watermark, err)
	}
	stop(t, p)
}

// TestE2EFarFutureWithoutRecordTime: records whose Kafka timestamp is -1
// (no timestamp) or negative, which kafka-go reports as none, are held to
// watermark.max_future from the time the processor reads them: one stamped
// year 9999 and one two hours ahead of now are dead letters, and one of the
// live stream without a timestamp is counted. The broker keeps such
// timestamps as written (CreateTime); a timestamp of exactly 0 cannot be
// written with kafka-go, which replaces it with the time of writing.
func TestE2EFarFutureWithoutRecordTime(t *testing.T) {
	s := newScenario(t, 2)
	data := contracttest.Dataset(23, 2, 800, base(), s.ooo)
	value := func(plate string, ms int64) []byte {
		return fmt.Appendf(nil, `{"plateNumber":%q,"vignetteStickerId":"x","timestamp":%d,"vehicleType":"CAR"}`, plate, ms)
	}
	far := time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC).UnixMilli()
	ahead := time.Now().Add(2 * time.Hour).UnixMilli()
	data[0] = slices.Insert(data[0], 200, contracttest.Record{Partition: 0, Key: "NO-TIMESTAMP-9999", Value: value("NO-TIMESTAMP-9999", far),
		RecordTime: -1, Bad: true, WantError: "ahead of the time it was read"})
	data[1] = slices.Insert(data[1], 300, contracttest.Record{Partition: 1, Key: "NEGATIVE-TIMESTAMP-AHEAD", Value: value("NEGATIVE-TIMESTAMP-AHEAD", ahead),
		RecordTime: -1000, Bad: true, WantError: "(the record has no timestamp)"})
	// At the partition's stream time, so neither late nor early.
	var live int64
	for i := 399; live == 0; i-- {
		if !data[1][i].Bad {
			live = data[1][i].EventTime
		}
	}
	data[1] = slices.Insert(data[1], 400, contracttest.Record{Partition: 1, Key: "NO-TIMESTAMP-LIVE", Value: value("NO-TIMESTAMP-LIVE", live),
		RecordTime: -1, EventTime: live, Type: model.Car})

	want, late, bad := contracttest.ExpectedRecords(data, s.window, s.ooo)
	ctx := context.Background()
	s.produce(ctx, slices.Concat(data[0], data[1]))
	stamps := rawTimestamps(t, s.env.Brokers, s.cfg.Input, 2)
	for key, ms := range map[string]int64{"NO-TIMESTAMP-9999": -1, "NEGATIVE-TIMESTAMP-AHEAD": -1000, "NO-TIMESTAMP-LIVE": -1} {
		if stamps[key] != ms {
			t.Fatalf("the broker stored %s with timestamp %d, want %d as written: the test's premise is gone", key, stamps[key], ms)
		}
	}
	p := s.start("no-record-time")
	s.waitOutput(want)
	s.checkDeadLetters(data)
	s.checkMetrics(p.Addr, late, bad)
	stop(t, p)
}

// rawTimestamps reads every record of the topic's partitions through
// kafka-go's protocol client, which, unlike its Conn and Reader, reports a
// timestamp at or below 0 as it is, and returns each key's timestamp.
func rawTimestamps(t *testing.T, brokers []string, topic string, partitions int) map[string]int64 {
	t.Helper()
	client := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 10 * time.Second}
	out := map[string]int64{}
	for p := range partitions {
		for offset, end := int64(0), int64(1); offset < end; {
			res, err := client.Fetch(context.Background(), &kafka.FetchRequest{Topic: topic, Partition: p, Offset: offset, MaxBytes: 4 << 20})
			if err == nil {
				err = res.Error
			}
			if err != nil {
				t.Fatalf("fetch %s/%d at %d: %v", topic, p, offset, err)
			}
			end = res.HighWatermark
			for {
				r, err := res.Records.ReadRecord()
				if err != nil {
					break
				}
				if r.Key == nil {
					continue
				}
				key, err := io.ReadAll(r.Key)
				if err != nil {
					t.Fatal(err)
				}
				out[string(key)] = r.Time.UnixMilli()
				offset = r.Offset + 1
			}
		}
	}
	return out
}
