package topics

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/vehicle-stats/vehicle-stats/internal/kafkasecurity"
)

// Topics is the processor's view of its Kafka topics: it creates them,
// knows the input topic's partition count, checks that a broker answers,
// and makes writers. It is safe for concurrent use.
type Topics struct {
	cfg        Config
	dialer     *kafka.Dialer
	transport  kafka.RoundTripper
	client     *kafka.Client
	partitions atomic.Int64

	metaMu   sync.Mutex
	metaConn *kafka.Conn // Refresh's own connection, nil until needed

	outMu     sync.Mutex
	outParts  int       // the output topic's partition count, 0 until read
	outReadAt time.Time // when outParts was read
}

// New returns the topics of cfg. The dialer opens connections the processor
// manages itself (a plaintext one when nil); the transport carries the
// writers' and admin requests (kafka-go's default when nil). Both carry TLS
// and SASL (kafkasecurity).
func New(cfg Config, dialer *kafka.Dialer, transport kafka.RoundTripper) *Topics {
	if dialer == nil {
		dialer = &kafka.Dialer{Timeout: 10 * time.Second, DualStack: true, ClientID: "stats-processor"}
	}
	return &Topics{
		cfg:       cfg,
		dialer:    dialer,
		transport: transport,
		client:    &kafka.Client{Addr: kafka.TCP(cfg.Brokers...), Timeout: 10 * time.Second, Transport: transport},
	}
}

// Config is the configuration the topics were made with.
func (t *Topics) Config() Config { return t.cfg }

// Dialer opens connections to the brokers.
func (t *Topics) Dialer() *kafka.Dialer { return t.dialer }

// FetchTransport returns a new transport with the topics' security
// settings, for fetches held by the broker: on the writers' transport they
// would hold up the produce requests queued behind them on a connection.
func (t *Topics) FetchTransport() (*kafka.Transport, error) {
	return t.cfg.Security().Transport("stats-processor", 10*time.Second)
}

// Prepare creates the topics that do not exist yet and learns the input
// topic's partition count. It fails when Kafka does not answer.
func (t *Topics) Prepare(ctx context.Context) error {
	// Through the client a TLS or SASL refusal can read as "broker not
	// available"; a direct connection first names what to fix.
	if err := t.Ping(ctx); err != nil {
		return err
	}
	c := t.cfg
	topics := []kafka.TopicConfig{
		{Topic: c.InputTopic, NumPartitions: c.InputPartitions, ReplicationFactor: c.ReplicationFactor},
		{Topic: c.OutputTopic, NumPartitions: c.OutputPartitions, ReplicationFactor: c.ReplicationFactor},
		{Topic: c.DeadLetterTopic, NumPartitions: c.OutputPartitions, ReplicationFactor: c.ReplicationFactor},
	}
	if c.LateTopic != "" {
		topics = append(topics, kafka.TopicConfig{Topic: c.LateTopic, NumPartitions: c.OutputPartitions, ReplicationFactor: c.ReplicationFactor})
	}
	if err := Ensure(ctx, t.client, topics...); err != nil {
		return err
	}
	return t.Refresh(ctx)
}

// Ensure creates the topics that do not exist; existing ones are left as
// they are.
func Ensure(ctx context.Context, client *kafka.Client, topics ...kafka.TopicConfig) error {
	resp, err := client.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: topics})
	if err != nil {
		return fmt.Errorf("create topics on %s: %w (is Kafka running and reachable?)", client.Addr, err)
	}
	for name, e := range resp.Errors {
		if e != nil && !errors.Is(e, kafka.TopicAlreadyExists) {
			return fmt.Errorf("create topic %s: %w", name, e)
		}
	}
	return nil
}

// Refresh reads the input topic's partition count from the brokers. It
// asks a broker directly over a connection of its own: the transport's
// metadata cache (kafka-go refreshes it every few seconds) would let the
// closer close windows without a partition added to the topic meanwhile.
func (t *Topics) Refresh(ctx context.Context) error {
	in := t.cfg.InputTopic
	t.metaMu.Lock()
	defer t.metaMu.Unlock()
	if t.metaConn == nil {
		var err error
		for _, b := range t.cfg.Brokers {
			if t.metaConn, err = t.dialer.DialContext(ctx, "tcp", b); err == nil {
				break
			}
		}
		if err != nil {
			return fmt.Errorf("metadata of %s: %w", in, err)
		}
	}
	_ = t.metaConn.SetDeadline(time.Now().Add(5 * time.Second))
	parts, err := t.metaConn.ReadPartitions(in)
	if err != nil {
		t.metaConn.Close()
		t.metaConn = nil
		return fmt.Errorf("metadata of %s: %w", in, err)
	}
	n := 0
	for _, p := range parts {
		if p.Topic == in {
			n++
		}
	}
	if n == 0 {
		return fmt.Errorf("metadata of %s: no partitions in the answer", in)
	}
	t.partitions.Store(int64(n))
	return nil
}

// Close closes the connection Refresh keeps.
func (t *Topics) Close() error {
	t.metaMu.Lock()
	defer t.metaMu.Unlock()
	if t.metaConn == nil {
		return nil
	}
	err := t.metaConn.Close()
	t.metaConn = nil
	return err
}

// TimestampType is the input topic's message.timestamp.type, CreateTime or
// LogAppendTime.
func (t *Topics) TimestampType(ctx context.Context) (string, error) {
	in := t.cfg.InputTopic
	resp, err := t.client.DescribeConfigs(ctx, &kafka.DescribeConfigsRequest{Resources: []kafka.DescribeConfigRequestResource{{
		ResourceType: kafka.ResourceTypeTopic, ResourceName: in, ConfigNames: []string{"message.timestamp.type"},
	}}})
	if err != nil {
		return "", fmt.Errorf("describe %s: %w", in, err)
	}
	if len(resp.Resources) != 1 {
		return "", fmt.Errorf("describe %s: %d resources in the answer, want 1", in, len(resp.Resources))
	}
	if err := resp.Resources[0].Error; err != nil {
		return "", fmt.Errorf("describe %s: %w", in, err)
	}
	for _, e := range resp.Resources[0].ConfigEntries {
		if e.ConfigName == "message.timestamp.type" {
			return e.ConfigValue, nil
		}
	}
	return "", fmt.Errorf("describe %s: no message.timestamp.type in the answer", in)
}

// Partitions is the input topic's partition count, 0 until known.
func (t *Topics) Partitions() int { return int(t.partitions.Load()) }

// Ping checks that a broker answers on a fresh connection (pooled
// connections and cached metadata would hide an outage). A security refusal
// is a *kafkasecurity.RefusedError naming the keys to fix.
func (t *Topics) Ping(ctx context.Context) error {
	return kafkasecurity.Probe(ctx, t.dialer, t.cfg.Brokers)
}

// Writer returns a writer that waits for every replica's ack (acks=all),
// keys records to partitions by hash and batches for throughput; topic ""
// means each message names its own topic.
//
// It does not compress. The processor writes little (a few records per
// window; late and bad events, a small share of the input), and kafka-go's
// lz4 writer takes a 4 MiB block buffer from a pool that every GC empties:
// with lz4 the processor's Go heap swung between 17 and 33 MiB at 5,000
// events/s with a late topic, without it between 3 and 10 MiB (RSS 41–46
// against 27–32 MiB), at the same catch-up speed (BenchmarkCompressBatch
// has the cost per batch of each codec). A topic whose compression.type is
// set has the broker compress it anyway.
func (t *Topics) Writer(topic string) *kafka.Writer {
	return &kafka.Writer{
		Addr:         kafka.TCP(t.cfg.Brokers...),
		Transport:    t.transport,
		Topic:        topic,
		Balancer:     &kafka.Hash{},
		RequiredAcks: kafka.RequireAll,
		BatchSize:    10_000,
		BatchBytes:   8 << 20,
		BatchTimeout: 2 * time.Millisecond,
		MaxAttempts:  5,
	}
}

// GroupMembers returns how many members the consumer group has now (0 for a
// group that does not exist).
func (t *Topics) GroupMembers(ctx context.Context, group string) (int, error) {
	resp, err := t.client.DescribeGroups(ctx, &kafka.DescribeGroupsRequest{GroupIDs: []string{group}})
	if err != nil {
		return 0, fmt.Errorf("describe consumer group %s: %w", group, err)
	}
	for _, g := range resp.Groups {
		if g.GroupID == group {
			if g.Error != nil && !errors.Is(g.Error, kafka.GroupIdNotFound) {
				return 0, fmt.Errorf("describe consumer group %s: %w", group, g.Error)
			}
			return len(g.Members), nil
		}
	}
	return 0, nil
}

// DeleteGroup deletes the consumer group and its committed offsets; a group
// that does not exist is not an error. Kafka refuses to delete a group that
// still has members.
func (t *Topics) DeleteGroup(ctx context.Context, group string) error {
	resp, err := t.client.DeleteGroups(ctx, &kafka.DeleteGroupsRequest{GroupIDs: []string{group}})
	if err != nil {
		return fmt.Errorf("delete consumer group %s: %w", group, err)
	}
	if e := resp.Errors[group]; e != nil && !errors.Is(e, kafka.GroupIdNotFound) {
		return fmt.Errorf("delete consumer group %s: %w", group, e)
	}
	return nil
}
