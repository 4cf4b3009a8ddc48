package consumer

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/vehicle-stats/vehicle-stats/internal/testenv"
)

// Workers that ask while a request is out go together in the next one:
// 100 asks at once are 2 requests, and each gets its own partition's
// answer.
func TestOffsetBatchAsksTogether(t *testing.T) {
	release := make(chan struct{})
	var sent [][]int
	b := &offsetBatch{ctx: context.Background(), list: func(_ context.Context, ps []int) (map[int]offsetRange, error) {
		sent = append(sent, ps)
		if len(sent) == 1 {
			<-release // the first request is out while the others ask
		}
		out := map[int]offsetRange{}
		for _, p := range ps {
			out[p] = offsetRange{first: int64(p), last: int64(10 * p)}
		}
		return out, nil
	}}
	const n = 100
	var wg sync.WaitGroup
	errs := make(chan error, n)
	ask := func(p int) {
		defer wg.Done()
		first, last, err := b.offsets(context.Background(), p)
		if err != nil || first != int64(p) || last != int64(10*p) {
			errs <- fmt.Errorf("partition %d: %d %d %v", p, first, last, err)
		}
	}
	wg.Add(1)
	go ask(0)
	waitFor(t, func() bool { b.mu.Lock(); defer b.mu.Unlock(); return b.out && len(b.asks) == 0 })
	for p := 1; p < n; p++ {
		wg.Add(1)
		go ask(p)
	}
	waitFor(t, func() bool { b.mu.Lock(); defer b.mu.Unlock(); return len(b.asks) == n-1 })
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	b.mu.Lock()
	requests := b.requests
	b.mu.Unlock()
	if len(sent) != 2 || len(sent[0]) != 1 || len(sent[1]) != n-1 || requests != 2 {
		t.Fatalf("%d requests of %v partitions for %d asks; want 2: the first ask's, then the 99 asked meanwhile", len(sent), lens(sent), n)
	}
}

// A failed request fails every ask in it; a partition missing from the
// answer fails its own ask; an asker whose context ends stops waiting
// without holding up the others.
func TestOffsetBatchFailures(t *testing.T) {
	fail := errors.New("broker gone")
	b := &offsetBatch{ctx: context.Background(), list: func(_ context.Context, ps []int) (map[int]offsetRange, error) {
		if ps[0] == 1 {
			return nil, fail
		}
		return map[int]offsetRange{0: {first: 1, last: 2}}, nil
	}}
	if _, _, err := b.offsets(context.Background(), 1); !errors.Is(err, fail) {
		t.Errorf("failed request: %v, want %v", err, fail)
	}
	if _, _, err := b.offsets(context.Background(), 2); !errors.Is(err, kafka.UnknownTopicOrPartition) {
		t.Errorf("partition missing from the answer: %v, want UnknownTopicOrPartition", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := b.offsets(ctx, 0); err != nil && !errors.Is(err, context.Canceled) {
		t.Errorf("ended context: %v", err)
	}
	if first, last, err := b.offsets(context.Background(), 0); err != nil || first != 1 || last != 2 {
		t.Errorf("after an asker gave up: %d %d %v, want 1 2", first, last, err)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached within 10 s")
		}
	}
}

func lens(sent [][]int) []int {
	out := make([]int, len(sent))
	for i, s := range sent {
		out[i] = len(s)
	}
	return out
}

// BenchmarkRejoinOffsets is what a rejoin's offset reads cost the broker
// when one instance is handed every partition of a 240-partition topic
// at once: a request per partition (as each worker asked before) against
// the batched asks (offsetBatch), side by side on the real broker. Run it
// with `go test -run '^$' -bench RejoinOffsets ./services/stats-processor/internal/consumer`.
func BenchmarkRejoinOffsets(b *testing.B) {
	const partitions = 240
	env := testenv.Get(b)
	topic := env.Topic(b, "rejoin-offsets", partitions)
	client := &kafka.Client{Addr: kafka.TCP(env.Brokers...), Timeout: 10 * time.Second}
	rejoin := func(b *testing.B, read func(ctx context.Context, p int) error) {
		ctx := context.Background()
		for b.Loop() {
			var wg sync.WaitGroup
			failed := make(chan error, partitions)
			for p := range partitions {
				wg.Go(func() {
					if err := read(ctx, p); err != nil {
						failed <- err
					}
				})
			}
			wg.Wait()
			close(failed)
			for err := range failed {
				b.Fatal(err)
			}
		}
	}
	b.Run("request-per-partition", func(b *testing.B) {
		rejoin(b, func(ctx context.Context, p int) error {
			_, err := listOffsets(ctx, client, topic, []int{p})
			return err
		})
		b.ReportMetric(float64(partitions), "requests/rejoin")
	})
	b.Run("batched", func(b *testing.B) {
		batch := &offsetBatch{ctx: context.Background(), list: func(ctx context.Context, ps []int) (map[int]offsetRange, error) {
			return listOffsets(ctx, client, topic, ps)
		}}
		rejoin(b, func(ctx context.Context, p int) error {
			_, _, err := batch.offsets(ctx, p)
			return err
		})
		b.ReportMetric(float64(batch.requests)/float64(b.N), "requests/rejoin")
	})
}
