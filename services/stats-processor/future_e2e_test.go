package main_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

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
	data := dataset(17, 2, 1500, base(), s.ooo)
	const hour = int64(time.Hour / time.Millisecond)
	inject := func(p, at int, r record) {
		r.partition = p
		data[p] = slices.Insert(data[p], at, r)
	}
	lastGood := func(p, before int) record {
		for i := before - 1; i >= 0; i-- {
			if !data[p][i].bad {
				return data[p][i]
			}
		}
		t.Fatal("no good record before", before)
		return record{}
	}
	value := func(plate, ts string) []byte {
		return fmt.Appendf(nil, `{"plateNumber":%q,"vignetteStickerId":"x","timestamp":%s,"vehicleType":"CAR"}`, plate, ts)
	}
	inject(0, 300, record{key: "FUTURE-9999", value: value("FUTURE-9999", `"9999-12-31T23:59:59Z"`), bad: true,
		wantError: "event time 9999-12-31T23:59:59.000Z is more than 1h0m0s ahead of the record timestamp"})
	// At the bound: the event time is the partition's stream time (so it is
	// neither late nor early), the record's timestamp an hour before it.
	at := lastGood(1, 500).eventTime
	inject(1, 500, record{key: "AT-BOUND", value: value("AT-BOUND", fmt.Sprint(at)), eventTime: at, typ: model.Car, recordTime: at - hour})
	at = lastGood(1, 700).eventTime
	inject(1, 700, record{key: "BEYOND-BOUND", value: value("BEYOND-BOUND", fmt.Sprint(at)), bad: true, recordTime: at - hour - 1,
		wantError: "is more than 1h0m0s ahead of the record timestamp " + model.TimeFromMillis(at-hour-1).Format("2006-01-02T15:04:05.000Z")})

	want, late, bad := expected(data, s.window, s.ooo)
	t.Logf("dataset: %d windows x types, %d late, %d bad (3 of them at or beyond max_future)", len(want), late, bad)
	ctx := context.Background()
	chunks := interleave(data, 50)
	s.produce(ctx, chunks[0])
	p := s.start("future")
	for _, c := range chunks[1:] { // live: the processor reads as it is written
		s.produce(ctx, c)
		time.Sleep(100 * time.Millisecond)
	}
	s.waitOutput(want)
	s.checkDeadLetters(data)
	s.checkStats(p.addr, want)

	s.checkMetrics(p.addr, late, bad)
	// The pipeline watermark is the wall clock's (every partition idle), not
	// year 9999.
	resp, err := http.Get("http://" + p.addr + "/stats?limit=1")
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
	p.stop(t)
}
