package consumer

import (
	"context"
	"fmt"
	"sync"

	"github.com/segmentio/kafka-go"
)

// offsetBatch answers the workers' questions for their partitions' first
// and last offsets with as few requests as it can: while one request is
// out, the questions asked meanwhile wait and go together in the next one.
// When a rebalance hands an instance 1,000 partitions, their workers ask
// at once: one request (kafka-go's ListOffsets sends one per leader) or
// two instead of 1,000, which a broker on a starved machine answered too
// late (890 of 1,000 failed in a run of docs/capacity.md).
type offsetBatch struct {
	// list reads the offsets of the partitions, one answer per partition
	// asked (or an error for all of them).
	list func(ctx context.Context, partitions []int) (map[int]offsetRange, error)
	ctx  context.Context // the requests', not one asker's: the generation's

	mu       sync.Mutex
	asks     []offsetAsk
	out      bool // a request is out: new asks wait for the next one
	requests int  // sent so far (for tests and benchmarks)
}

// offsetRange is a partition's log start and end, or why they are not
// known.
type offsetRange struct {
	first, last int64
	err         error
}

type offsetAsk struct {
	partition int
	reply     chan offsetRange
}

// offsets returns the partition's first and last offsets, or ctx's error
// if it ends first.
func (b *offsetBatch) offsets(ctx context.Context, partition int) (first, last int64, err error) {
	ask := offsetAsk{partition: partition, reply: make(chan offsetRange, 1)}
	b.mu.Lock()
	b.asks = append(b.asks, ask)
	if !b.out {
		b.out = true
		go b.send()
	}
	b.mu.Unlock()
	select {
	case r := <-ask.reply:
		return r.first, r.last, r.err
	case <-ctx.Done():
		return 0, 0, ctx.Err()
	}
}

// send sends the waiting asks in one request, and again while more came
// in meanwhile.
func (b *offsetBatch) send() {
	for {
		b.mu.Lock()
		asks := b.asks
		b.asks = nil
		if len(asks) == 0 {
			b.out = false
			b.mu.Unlock()
			return
		}
		b.requests++
		b.mu.Unlock()
		var partitions []int
		seen := map[int]bool{}
		for _, a := range asks {
			if !seen[a.partition] {
				seen[a.partition] = true
				partitions = append(partitions, a.partition)
			}
		}
		got, err := b.list(b.ctx, partitions)
		for _, a := range asks {
			r, ok := got[a.partition]
			switch {
			case err != nil:
				r = offsetRange{err: err}
			case !ok:
				r = offsetRange{err: fmt.Errorf("read offsets: partition %d: not in the answer: %w", a.partition, kafka.UnknownTopicOrPartition)}
			}
			a.reply <- r
		}
	}
}

// listOffsets reads the partitions' first and last offsets of topic in
// one ListOffsets call (one request per leader).
func listOffsets(ctx context.Context, client *kafka.Client, topic string, partitions []int) (map[int]offsetRange, error) {
	reqs := make([]kafka.OffsetRequest, 0, 2*len(partitions))
	for _, p := range partitions {
		reqs = append(reqs, kafka.FirstOffsetOf(p), kafka.LastOffsetOf(p))
	}
	res, err := client.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{topic: reqs}})
	if err != nil {
		return nil, fmt.Errorf("read offsets of %d partitions: %w", len(partitions), err)
	}
	out := make(map[int]offsetRange, len(partitions))
	for _, p := range res.Topics[topic] {
		r := offsetRange{first: p.FirstOffset, last: p.LastOffset}
		if p.Error != nil {
			r.err = fmt.Errorf("read offsets: %w", p.Error)
		}
		out[p.Partition] = r
	}
	return out, nil
}
