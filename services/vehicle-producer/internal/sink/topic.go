package sink

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/vehicle-stats/vehicle-stats/internal/kafkasecurity"
)

// EnsureTopic creates the topic with Config.Partitions and
// Config.ReplicationFactor unless it exists (an existing topic is used as it
// is), and waits until every partition has a leader. It retries with backoff
// until ctx ends and then returns the last error. It returns the topic's
// partition count.
func (s *Kafka) EnsureTopic(ctx context.Context) (int, error) {
	var last error
	for attempt := 0; ; attempt++ {
		n, err := s.ensureTopic(ctx)
		s.noteReach(err)
		if err == nil {
			return n, nil
		}
		last = err
		if !Retryable(err) {
			return 0, fmt.Errorf("topic %s: %w", s.cfg.Topic, err)
		}
		if attempt == 0 {
			s.log.Warn("kafka not ready yet; retrying", "brokers", s.cfg.Brokers, "error", err)
		}
		select {
		case <-time.After(s.backoff(attempt)):
		case <-ctx.Done():
			return 0, fmt.Errorf("topic %s on %v: %w (gave up: %w)", s.cfg.Topic, s.cfg.Brokers, last, ctx.Err())
		}
	}
}

func (s *Kafka) ensureTopic(ctx context.Context) (int, error) {
	// A direct connection first: through the transport a TLS or SASL
	// refusal can read as "broker not available"; here it names its keys.
	if err := kafkasecurity.Probe(ctx, s.dialer, s.cfg.Brokers); err != nil {
		return 0, err
	}
	// A transport of its own: the writer's transport caches the topic's
	// metadata, and a cache filled before the topic existed made the first
	// writes fail with "unknown topic" for seconds.
	admin, err := s.cfg.Security().Transport("vehicle-producer", 5*time.Second)
	if err != nil {
		return 0, err
	}
	defer admin.CloseIdleConnections()
	c := &kafka.Client{Addr: kafka.TCP(s.cfg.Brokers...), Transport: admin, Timeout: 10 * time.Second}
	resp, err := c.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{{
		Topic:             s.cfg.Topic,
		NumPartitions:     s.cfg.Partitions,
		ReplicationFactor: s.cfg.ReplicationFactor,
	}}})
	if err != nil {
		return 0, fmt.Errorf("create topic: %w", err)
	}
	created := true
	if err := resp.Errors[s.cfg.Topic]; err != nil {
		if !errors.Is(err, kafka.TopicAlreadyExists) {
			return 0, fmt.Errorf("create topic: %w", err)
		}
		created = false
	}
	n, err := s.partitions(ctx)
	if err != nil {
		return 0, err
	}
	if created {
		s.log.Info("topic created", "partitions", n, "replication_factor", s.cfg.ReplicationFactor)
	} else {
		s.log.Info("topic exists", "partitions", n)
	}
	return n, nil
}

// partitions asks a broker directly (not the writer's metadata cache) for
// the topic's partitions and fails unless each has a leader.
func (s *Kafka) partitions(ctx context.Context) (int, error) {
	var last error
	for _, b := range s.cfg.Brokers {
		n, err := s.partitionsAt(ctx, b)
		if err == nil {
			return n, nil
		}
		last = err
	}
	return 0, last
}

func (s *Kafka) partitionsAt(ctx context.Context, broker string) (int, error) {
	conn, err := s.dialer.DialContext(ctx, "tcp", broker)
	if err != nil {
		return 0, fmt.Errorf("dial %s: %w", broker, err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	} else {
		_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	}
	parts, err := conn.ReadPartitions(s.cfg.Topic)
	if err != nil {
		return 0, fmt.Errorf("read partitions from %s: %w", broker, err)
	}
	if len(parts) == 0 {
		return 0, fmt.Errorf("topic %s has no partitions yet: %w", s.cfg.Topic, kafka.UnknownTopicOrPartition)
	}
	for _, p := range parts {
		if p.Error != nil {
			return 0, fmt.Errorf("partition %d: %w", p.ID, p.Error)
		}
		if p.Leader.ID < 0 || p.Leader.Host == "" {
			return 0, fmt.Errorf("partition %d has no leader: %w", p.ID, kafka.LeaderNotAvailable)
		}
	}
	return len(parts), nil
}

// Check is the readiness check: it fails while sends are failing (naming the
// error and how many records wait) and when no broker answers for the topic
// (recorded for Stats.UnreachableSince).
func (s *Kafka) Check(ctx context.Context) error {
	st := s.Stats()
	if !st.FailingSince.IsZero() {
		return fmt.Errorf("sending to topic %s fails since %s (%d records waiting): %w",
			s.cfg.Topic, st.FailingSince.UTC().Format(time.RFC3339), st.InFlight, st.LastError)
	}
	_, err := s.partitions(ctx)
	if err != nil {
		err = fmt.Errorf("kafka %v: %w", s.cfg.Brokers, err)
	}
	s.noteReach(err)
	return err
}
