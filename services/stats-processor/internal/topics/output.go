package topics

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/segmentio/kafka-go"
)

// OutputEnd returns the end offset (the offset the next record will get)
// of each partition of the output topic, in partition order.
func (t *Topics) OutputEnd(ctx context.Context) ([]int64, error) {
	_, end, err := t.OutputOffsets(ctx)
	return end, err
}

// outputPartitionsTTL is how long the output topic's partition count is
// kept before it is read again: the closer reads the output's offsets on
// each close, and one request fewer is a millisecond sooner on the topic.
const outputPartitionsTTL = 10 * time.Second

// outputPartitions returns the output topic's partition count, read from
// the brokers at most every outputPartitionsTTL.
func (t *Topics) outputPartitions(ctx context.Context) (int, error) {
	t.outMu.Lock()
	defer t.outMu.Unlock()
	if t.outParts > 0 && time.Since(t.outReadAt) < outputPartitionsTTL {
		return t.outParts, nil
	}
	out := t.cfg.OutputTopic
	md, err := t.client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{out}})
	if err != nil {
		return 0, fmt.Errorf("metadata of %s: %w", out, err)
	}
	if len(md.Topics) != 1 || md.Topics[0].Error != nil || len(md.Topics[0].Partitions) == 0 {
		return 0, fmt.Errorf("metadata of %s: %v", out, md.Topics)
	}
	t.outParts, t.outReadAt = len(md.Topics[0].Partitions), time.Now()
	return t.outParts, nil
}

// OutputOffsets returns the first and the end offsets of each partition of
// the output topic, in partition order (one request, with the partition
// count known).
func (t *Topics) OutputOffsets(ctx context.Context) (first, end []int64, err error) {
	out := t.cfg.OutputTopic
	n, err := t.outputPartitions(ctx)
	if err != nil {
		return nil, nil, err
	}
	reqs := make([]kafka.OffsetRequest, 0, 2*n)
	for p := range n {
		reqs = append(reqs, kafka.FirstOffsetOf(p), kafka.LastOffsetOf(p))
	}
	resp, err := t.client.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{out: reqs}})
	if err != nil {
		return nil, nil, fmt.Errorf("offsets of %s: %w", out, err)
	}
	first, end = make([]int64, n), make([]int64, n)
	got := 0
	for _, po := range resp.Topics[out] {
		if po.Error != nil {
			return nil, nil, fmt.Errorf("offsets of %s/%d: %w", out, po.Partition, po.Error)
		}
		if po.Partition >= 0 && po.Partition < n {
			first[po.Partition], end[po.Partition] = po.FirstOffset, po.LastOffset
			got++
		}
	}
	if got != n {
		t.outMu.Lock()
		t.outParts = 0 // read the count again next time
		t.outMu.Unlock()
		return nil, nil, fmt.Errorf("offsets of %s: %d of %d partitions answered", out, got, n)
	}
	return first, end, nil
}

// ReadOutput returns the records of one output partition with offsets in
// [from, to), in offset order. It returns by ctx's deadline, with ctx's
// error, when the records do not come (they are gone: the topic was
// deleted and created again), not after a read of its own of 10 s.
func (t *Topics) ReadOutput(ctx context.Context, partition int, from, to int64) ([]kafka.Message, error) {
	if from >= to {
		return nil, nil
	}
	topic := t.cfg.OutputTopic
	var conn *kafka.Conn
	var err error
	for _, b := range t.cfg.Brokers {
		if conn, err = t.dialer.DialLeader(ctx, "tcp", b, topic, partition); err == nil {
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("connect to the leader of %s/%d: %w", topic, partition, err)
	}
	defer conn.Close()
	if _, err := conn.Seek(from, kafka.SeekAbsolute); err != nil {
		return nil, fmt.Errorf("seek %s/%d to %d: %w", topic, partition, from, err)
	}
	var msgs []kafka.Message
	next := from
	for next < to {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		deadline, callers := readDeadline(ctx, 10*time.Second)
		_ = conn.SetReadDeadline(deadline)
		batch := conn.ReadBatch(1, 8<<20)
		for {
			m, err := batch.ReadMessage()
			if err != nil {
				batch.Close()
				if callers && errors.Is(err, kafka.RequestTimedOut) {
					// The caller's deadline cut the read (kafka-go ends it
					// up to a second early): say so once it has passed.
					<-ctx.Done()
					err = ctx.Err()
				}
				if !errors.Is(err, io.EOF) {
					return nil, fmt.Errorf("read %s/%d at %d: %w", topic, partition, next, err)
				}
				break
			}
			if m.Offset < next {
				continue
			}
			next = m.Offset + 1
			if m.Offset < to {
				msgs = append(msgs, m)
			}
		}
	}
	return msgs, nil
}

// readDeadline is the deadline of one read: limit from now, but never past
// ctx's (a closing round's, inside its lease), which kafka-go's connection
// does not watch while it waits for a batch. callers says it is ctx's.
func readDeadline(ctx context.Context, limit time.Duration) (deadline time.Time, callers bool) {
	d := time.Now().Add(limit)
	if cd, ok := ctx.Deadline(); ok && cd.Before(d) {
		return cd, true
	}
	return d, false
}
