package consumer

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/segmentio/kafka-go"

	"github.com/vehicle-stats/vehicle-stats/services/stats-processor/internal/metrics"
)

// leaders keeps the input partitions' leaders from one metadata request, so
// that a worker dials its leader directly. kafka-go's DialLeader looks the
// leader up first, over a connection of its own, with a metadata request
// that lists every partition of the topic: with P partitions starting
// together that is P extra connections and P² partition entries (57,600
// at 240 partitions), and again at every redial.
type leaders struct {
	lookup func(ctx context.Context) ([]kafka.Partition, error)

	mu    sync.Mutex
	gen   int // how many lookups succeeded
	parts map[int]kafka.Partition
}

// get returns the partition's leader as last looked up, looking it up when
// it is unknown or when the caller found it wrong: stale is the generation
// the caller's failed dial used (-1: none), and a lookup made since then by
// another worker is reused rather than repeated.
func (l *leaders) get(ctx context.Context, partition, stale int) (kafka.Partition, int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if p, ok := l.parts[partition]; ok && l.gen != stale {
		return p, l.gen, nil
	}
	parts, err := l.lookup(ctx)
	if err != nil {
		return kafka.Partition{}, l.gen, err
	}
	l.parts = make(map[int]kafka.Partition, len(parts))
	for _, p := range parts {
		l.parts[p.ID] = p
	}
	l.gen++
	p, ok := l.parts[partition]
	if !ok {
		return kafka.Partition{}, l.gen, fmt.Errorf("partition %d: %w", partition, kafka.UnknownTopicOrPartition)
	}
	return p, l.gen, nil
}

// forget drops what is known, so that the next dial looks the leaders up:
// a broker said it no longer leads a partition.
func (l *leaders) forget() {
	l.mu.Lock()
	l.parts = nil
	l.mu.Unlock()
}

// dialLeader connects to the leader of one input partition: with the
// leader known, one connection; when that fails (the leadership moved, the
// broker went away), after one more lookup. Its error is marked as Kafka's.
func (c *Consumer) dialLeader(ctx context.Context, partition int) (*kafka.Conn, error) {
	stale := -1
	var errs []error
	for range 2 {
		p, gen, err := c.leaders.get(ctx, partition, stale)
		if err != nil {
			errs = append(errs, err)
			break
		}
		conn, err := c.dialer.DialPartition(ctx, "tcp", "", p)
		if err == nil {
			return conn, nil
		}
		errs = append(errs, fmt.Errorf("leader %s:%d: %w", p.Leader.Host, p.Leader.Port, err))
		stale = gen
	}
	return nil, metrics.Failed(metrics.Kafka, fmt.Errorf("connect to the leader of %s/%d: %w", c.topics.InputTopic, partition, errors.Join(errs...)))
}

// lookupPartitions reads the input topic's partitions from the first broker
// that answers.
func (c *Consumer) lookupPartitions(ctx context.Context) ([]kafka.Partition, error) {
	var errs []error
	for _, b := range c.topics.Brokers {
		parts, err := c.dialer.LookupPartitions(ctx, "tcp", b, c.topics.InputTopic)
		if err == nil {
			return parts, nil
		}
		errs = append(errs, err)
	}
	return nil, fmt.Errorf("partitions of %s: %w", c.topics.InputTopic, errors.Join(errs...))
}
