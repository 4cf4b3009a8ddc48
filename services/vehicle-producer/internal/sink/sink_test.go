package sink_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"github.com/vehicle-stats/vehicle-stats/pkg/model"
	"github.com/vehicle-stats/vehicle-stats/services/vehicle-producer/internal/metrics"
	"github.com/vehicle-stats/vehicle-stats/services/vehicle-producer/internal/sink"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func newSink(t *testing.T, cfg sink.Config, opts sink.Options) *sink.Kafka {
	t.Helper()
	m, err := metrics.New(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	s, err := sink.New(cfg, quiet(), m, opts)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestRetryable(t *testing.T) {
	for _, err := range []error{
		kafka.LeaderNotAvailable, kafka.NotLeaderForPartition, kafka.UnknownTopicOrPartition,
		kafka.RequestTimedOut, kafka.NotEnoughReplicas, kafka.BrokerNotAvailable,
		syscall.ECONNREFUSED, io.EOF, io.ErrUnexpectedEOF, context.DeadlineExceeded,
		fmt.Errorf("wrapped: %w", kafka.LeaderNotAvailable),
	} {
		if !sink.Retryable(err) {
			t.Errorf("Retryable(%v) = false", err)
		}
	}
	for _, err := range []error{
		kafka.TopicAuthorizationFailed, kafka.MessageSizeTooLarge, kafka.InvalidRequiredAcks,
		kafka.ClusterAuthorizationFailed, kafka.MessageTooLargeError{},
	} {
		if sink.Retryable(err) {
			t.Errorf("Retryable(%v) = true", err)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	if err := sink.DefaultConfig().Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	c := sink.DefaultConfig()
	c.Brokers = []string{"nohost"}
	c.Topic = "bad topic"
	c.Partitions = 0
	c.ReplicationFactor = 0
	c.Compression = "brotli"
	c.BatchSize = 0
	c.BatchBytes = 10
	c.BatchTimeout = 0
	c.MaxInFlight = 0
	c.RetryBackoffMin = 0
	c.RetryBackoffMax = -1
	c.WriteTimeout = 0
	c.StartupTimeout = 0
	c.FlushTimeout = -time.Second
	err := c.Validate()
	for _, key := range []string{"brokers", "topic", "partitions", "replication_factor", "compression", "batch_size", "batch_bytes",
		"batch_timeout", "max_in_flight", "retry_backoff_min", "retry_backoff_max", "write_timeout", "startup_timeout", "flush_timeout"} {
		if err == nil || !strings.Contains(err.Error(), key+":") {
			t.Errorf("Validate does not name %s: %v", key, err)
		}
	}
	if _, err := sink.New(c, quiet(), nil, sink.Options{}); err == nil {
		t.Error("New accepted a bad config")
	}
}

// TestNothingIsLostWhileKafkaIsAway sends to a port where no broker
// listens: the records stay in flight (never counted as sent), the readiness
// check says why, Flush gives up when told, and Close reports what was never
// acknowledged.
func TestNothingIsLostWhileKafkaIsAway(t *testing.T) {
	cfg := sink.DefaultConfig()
	cfg.Brokers = []string{"127.0.0.1:1"}
	cfg.Topic = "nowhere"
	cfg.RetryBackoffMin, cfg.RetryBackoffMax = 10*time.Millisecond, 50*time.Millisecond
	s := newSink(t, cfg, sink.Options{})
	ctx := context.Background()
	if err := s.Acquire(ctx, 3); err != nil {
		t.Fatal(err)
	}
	recs := []sink.Record{
		{Key: []byte("CA1234AB"), Value: []byte(`{}`), Type: model.Car},
		{Key: []byte("PB0001XX"), Value: []byte(`{}`), Type: model.Truck},
		{Key: []byte("X9999TT"), Value: []byte(`{}`), Type: model.Bus},
	}
	// Send does not block on the absent broker: the records wait in the
	// retry queue.
	begin := time.Now()
	if err := s.Send(ctx, recs, func() { t.Error("done called for records Kafka never saw") }); err != nil {
		t.Fatalf("Send: %v", err)
	}
	if d := time.Since(begin); d > 10*time.Second {
		t.Errorf("Send took %v", d)
	}
	time.Sleep(200 * time.Millisecond) // a few retries
	st := s.Stats()
	if st.Sent != 0 || st.InFlight != 3 || st.Failures == 0 || st.LastError == nil || st.FailingSince.IsZero() {
		t.Errorf("stats %+v", st)
	}
	if err := s.Check(ctx); err == nil || !strings.Contains(err.Error(), "3 records waiting") {
		t.Errorf("Check = %v", err)
	}
	fctx, fcancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer fcancel()
	if err := s.Flush(fctx); err == nil {
		t.Error("Flush succeeded with 3 records unacknowledged")
	}
	if err := s.Close(ctx); err == nil || !strings.Contains(err.Error(), "3 records were never acknowledged") {
		t.Errorf("Close = %v", err)
	}
	if err := s.Acquire(ctx, 1); !errors.Is(err, sink.ErrClosed) {
		t.Errorf("Acquire after Close = %v", err)
	}
	if err := s.Send(ctx, recs[:1], nil); !errors.Is(err, sink.ErrClosed) {
		t.Errorf("Send after Close = %v", err)
	}
}

func TestEnsureTopicGivesUp(t *testing.T) {
	cfg := sink.DefaultConfig()
	cfg.Brokers = []string{"127.0.0.1:1"}
	cfg.RetryBackoffMin, cfg.RetryBackoffMax = 10*time.Millisecond, 20*time.Millisecond
	s := newSink(t, cfg, sink.Options{})
	defer s.Close(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err := s.EnsureTopic(ctx)
	if err == nil || !strings.Contains(err.Error(), "127.0.0.1:1") || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("EnsureTopic = %v", err)
	}
}
