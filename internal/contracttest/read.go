package contracttest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/segmentio/kafka-go"
)

// EndOffsets returns the end offset of each partition of topic.
func EndOffsets(ctx context.Context, brokers []string, topic string, partitions int) ([]int64, error) {
	c := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 10 * time.Second}
	req := make([]kafka.OffsetRequest, partitions)
	for p := range partitions {
		req[p] = kafka.LastOffsetOf(p)
	}
	resp, err := c.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{topic: req}})
	if err != nil {
		return nil, fmt.Errorf("list offsets of %s: %w", topic, err)
	}
	out := make([]int64, partitions)
	got := 0
	for _, po := range resp.Topics[topic] {
		if po.Error != nil {
			return nil, fmt.Errorf("list offsets of %s/%d: %w", topic, po.Partition, po.Error)
		}
		if po.Partition >= 0 && po.Partition < partitions {
			out[po.Partition] = po.LastOffset
			got++
		}
	}
	if got != partitions {
		return nil, fmt.Errorf("list offsets of %s: %d of %d partitions answered", topic, got, partitions)
	}
	return out, nil
}

// ReadPartition calls fn for every record of topic/partition from offset
// from up to (not including) to, in offset order.
func ReadPartition(ctx context.Context, brokers []string, topic string, partition int, from, to int64, fn func(kafka.Message)) error {
	if from >= to {
		return nil
	}
	conn, err := kafka.DialLeader(ctx, "tcp", brokers[0], topic, partition)
	if err != nil {
		return fmt.Errorf("dial leader of %s/%d: %w", topic, partition, err)
	}
	defer conn.Close()
	next := from
	for stuck := 0; next < to; {
		if _, err := conn.Seek(next, kafka.SeekAbsolute); err != nil {
			return fmt.Errorf("seek %s/%d to %d: %w", topic, partition, next, err)
		}
		if err := conn.SetReadDeadline(time.Now().Add(30 * time.Second)); err != nil {
			return fmt.Errorf("read deadline: %w", err)
		}
		before := next
		b := conn.ReadBatch(1, 32<<20)
		for next < to {
			m, err := b.ReadMessage()
			if err != nil {
				if errors.Is(err, io.EOF) || errors.Is(err, kafka.RequestTimedOut) {
					break
				}
				b.Close()
				return fmt.Errorf("read %s/%d at %d: %w", topic, partition, next, err)
			}
			if m.Offset < next {
				continue
			}
			fn(m)
			next = m.Offset + 1
		}
		if err := b.Close(); err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("read %s/%d at %d: %w", topic, partition, next, err)
		}
		if next == before {
			if stuck++; stuck == 3 {
				return fmt.Errorf("read %s/%d: no record at offset %d after three fetches (end %d)", topic, partition, next, to)
			}
		}
	}
	return nil
}

// ReadAll calls fn for every record of every partition of topic up to its
// current end, partition by partition, each in offset order.
func ReadAll(ctx context.Context, brokers []string, topic string, fn func(kafka.Message)) error {
	partitions, err := Partitions(ctx, brokers, topic)
	if err != nil {
		return err
	}
	ends, err := EndOffsets(ctx, brokers, topic, partitions)
	if err != nil {
		return err
	}
	for p, end := range ends {
		if err := ReadPartition(ctx, brokers, topic, p, 0, end, fn); err != nil {
			return err
		}
	}
	return nil
}

// Partitions is the number of partitions of topic.
func Partitions(ctx context.Context, brokers []string, topic string) (int, error) {
	c := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 10 * time.Second}
	md, err := c.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		return 0, fmt.Errorf("metadata of %s: %w", topic, err)
	}
	if len(md.Topics) != 1 || md.Topics[0].Error != nil {
		return 0, fmt.Errorf("metadata of %s: %v", topic, md.Topics)
	}
	return len(md.Topics[0].Partitions), nil
}
