package live

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/vehicle-stats/vehicle-stats/pkg/model"
	"github.com/vehicle-stats/vehicle-stats/pkg/serde"
)

// WindowType names one window (by its start, epoch ms) and vehicle type.
type WindowType struct {
	Start int64
	Type  string
}

// LoadResult is what the loader sent and acknowledged.
type LoadResult struct {
	Start, Stop time.Time
	Sent        int64
	Failed      int64
	FirstErr    error
	// Counts are the acknowledged events per window and type.
	Counts map[WindowType]int64
	// MaxBehind is the longest the loader fell behind its schedule.
	MaxBehind time.Duration
}

// Held is the rate the loader held: the events sent over the time it ran.
func (r LoadResult) Held() float64 { return float64(r.Sent) / r.Stop.Sub(r.Start).Seconds() }

// Load writes Vehicle events to topic at rate events/s for d, event i due at
// start + i/rate (absolute pacing: a late tick sends what is due, so the rate
// does not drift), each stamped with the wall clock when it is handed to the
// writer, round-robin over the partitions.
func Load(ctx context.Context, brokers []string, topic string, partitions int, rate float64, d, window time.Duration) LoadResult {
	var (
		mu     sync.Mutex
		res    = LoadResult{Counts: map[WindowType]int64{}}
		failed atomic.Int64
	)
	w := &kafka.Writer{
		Addr:         kafka.TCP(brokers...),
		Topic:        topic,
		Balancer:     chosenPartition{},
		BatchSize:    1000,
		BatchTimeout: time.Millisecond,
		RequiredAcks: kafka.RequireAll,
		MaxAttempts:  10,
		Async:        true,
		Completion: func(msgs []kafka.Message, err error) {
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				failed.Add(int64(len(msgs)))
				if res.FirstErr == nil {
					res.FirstErr = err
				}
				return
			}
			for _, m := range msgs {
				res.Counts[WindowType{m.Time.UnixMilli() - m.Time.UnixMilli()%window.Milliseconds(), string(m.Headers[0].Value)}]++
			}
		},
	}
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	total := int64(rate * d.Seconds())
	res.Start = time.Now()
	lastReport := res.Start
	var sent int64
	buf := make([]byte, 0, 64<<10)
	for sent < total && ctx.Err() == nil {
		now := time.Now()
		due := min(total, int64(now.Sub(res.Start).Seconds()*rate)+1)
		if behind := now.Sub(res.Start.Add(time.Duration(float64(sent) / rate * float64(time.Second)))); due > sent+1 && behind > res.MaxBehind {
			res.MaxBehind = behind
		}
		msgs := make([]kafka.Message, 0, due-sent)
		buf = buf[:0]
		ts := now.Truncate(time.Millisecond)
		for ; sent < due; sent++ {
			v := model.Vehicle{PlateNumber: plate(rng), VignetteStickerID: "", Timestamp: ts.UTC(), VehicleType: vehicleType(rng)}
			off := len(buf)
			buf = serde.AppendVehicle(buf, v)
			msgs = append(msgs, kafka.Message{
				Partition: int(sent % int64(partitions)), Key: []byte(v.PlateNumber),
				Value: append([]byte(nil), buf[off:]...), Time: ts,
				// The header is the loader's own note of the type, for its counts; the processors ignore headers.
				Headers: []kafka.Header{{Key: "bench-type", Value: []byte(v.VehicleType.String())}},
			})
		}
		if len(msgs) > 0 {
			if err := w.WriteMessages(ctx, msgs...); err != nil {
				failed.Add(int64(len(msgs)))
			}
		}
		if now.Sub(lastReport) >= 5*time.Second {
			lastReport = now
			fmt.Fprintf(os.Stderr, "  load: %d / %d events sent (%.0f events/s)\n", sent, total, float64(sent)/now.Sub(res.Start).Seconds())
		}
		next := res.Start.Add(time.Duration(float64(sent) / rate * float64(time.Second)))
		time.Sleep(max(time.Until(next), time.Millisecond))
	}
	res.Stop = time.Now()
	if err := w.Close(); err != nil { // flushes what is queued
		mu.Lock()
		if res.FirstErr == nil {
			res.FirstErr = err
		}
		mu.Unlock()
	}
	mu.Lock()
	defer mu.Unlock()
	res.Sent = sent
	res.Failed = failed.Load()
	return res
}

// chosenPartition sends each message to the partition the loader set on it.
type chosenPartition struct{}

func (chosenPartition) Balance(msg kafka.Message, _ ...int) int { return msg.Partition }

// vehicleType draws the mix bench/compare uses: 87% cars, 11% trucks, 1%
// buses, 0.6% vans, 0.4% motorcycles.
func vehicleType(rng *rand.Rand) model.VehicleType {
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

// plate returns a plate number such as CA1234AB.
func plate(rng *rand.Rand) string {
	const letters = "ABEKMHOPCTYX"
	d := rng.IntN(10000)
	return string([]byte{letters[rng.IntN(len(letters))], letters[rng.IntN(len(letters))],
		byte('0' + d/1000), byte('0' + d/100%10), byte('0' + d/10%10), byte('0' + d%10),
		letters[rng.IntN(len(letters))], letters[rng.IntN(len(letters))]})
}
