package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/vehicle-stats/vehicle-stats/internal/kafkasecurity"
	"github.com/vehicle-stats/vehicle-stats/services/stats-processor/internal/eventtime"
	"github.com/vehicle-stats/vehicle-stats/services/stats-processor/internal/state"
)

// StateStore is what the pipeline needs of its state; state.RedisStore
// implements it. Every method is safe for concurrent use.
type StateStore interface {
	Load(ctx context.Context, partition int) (state.PartitionState, error)
	Save(ctx context.Context, cp state.Checkpoint) (closedThrough int64, err error)
	Statuses(ctx context.Context, partitions int) ([]state.PartitionStatus, error)
	Seal(ctx context.Context, partitions int, through int64) (map[int64]eventtime.Counts, error)
	MarkClosed(ctx context.Context, windows []state.ClosedWindow, through, watermark int64, partitions int, retention time.Duration) error
	SetWatermark(ctx context.Context, watermark int64, partitions int) error
	DropClosed(ctx context.Context, partitions int, starts []int64) error
	ReadMeta(ctx context.Context) (state.Meta, error)
	TryLead(ctx context.Context, owner string, ttl time.Duration) (bool, error)
	ReleaseLead(ctx context.Context, owner string) error
}

// Sink writes records and returns once the broker acknowledged all of them;
// *kafka.Writer implements it.
type Sink interface {
	WriteMessages(ctx context.Context, msgs ...kafka.Message) error
}

// Options inject collaborators, mostly for tests.
type Options struct {
	// Now is the wall clock; time.Now when nil.
	Now func() time.Time
	// Output receives VehicleStatistics records; a *kafka.Writer on
	// OutputTopic when nil.
	Output Sink
	// Side receives dead letters and late events (each message names its
	// topic); a *kafka.Writer when nil.
	Side Sink
	// Dialer opens the partition and group connections (TLS, SASL); a
	// plaintext dialer when nil.
	Dialer *kafka.Dialer
	// Transport carries the writers' and admin requests (TLS, SASL);
	// kafka-go's default when nil.
	Transport kafka.RoundTripper
}

// Processor is one stats-processor instance.
type Processor struct {
	cfg       Config
	store     StateStore
	log       *slog.Logger
	metrics   *Metrics
	now       func() time.Time
	output    Sink
	side      Sink
	dialer    *kafka.Dialer
	transport kafka.RoundTripper
	client    *kafka.Client
	closers   []func() error

	partitions atomic.Int64 // input topic partition count
	joined     atomic.Bool
	groupErr   atomic.Pointer[error]
	wmNow      atomic.Int64 // latest pipeline watermark computed

	closeNow chan struct{} // a partition's idleness changed: look for windows to close now

	commitMu sync.Mutex
	commits  map[int]int64 // saved offsets not yet committed to the group
}

// New returns a processor; Run starts it.
func New(cfg Config, store StateStore, log *slog.Logger, metrics *Metrics, opts Options) *Processor {
	p := &Processor{
		cfg:       cfg,
		store:     store,
		log:       log,
		metrics:   metrics,
		now:       opts.Now,
		output:    opts.Output,
		side:      opts.Side,
		dialer:    opts.Dialer,
		transport: opts.Transport,
		client:    &kafka.Client{Addr: kafka.TCP(cfg.Brokers...), Timeout: 10 * time.Second, Transport: opts.Transport},
		commits:   map[int]int64{},
		closeNow:  make(chan struct{}, 1),
	}
	if p.now == nil {
		p.now = time.Now
	}
	if p.dialer == nil {
		p.dialer = &kafka.Dialer{Timeout: 10 * time.Second, DualStack: true, ClientID: "stats-processor"}
	}
	if p.output == nil {
		w := p.newWriter(cfg.OutputTopic)
		p.output = w
		p.closers = append(p.closers, w.Close)
	}
	if p.side == nil {
		w := p.newWriter("")
		p.side = w
		p.closers = append(p.closers, w.Close)
	}
	p.wmNow.Store(eventtime.NoWatermark)
	return p
}

func (p *Processor) newWriter(topic string) *kafka.Writer {
	return &kafka.Writer{
		Addr:         kafka.TCP(p.cfg.Brokers...),
		Transport:    p.transport,
		Topic:        topic,
		Balancer:     &kafka.Hash{},
		RequiredAcks: kafka.RequireAll,
		BatchSize:    10_000,
		BatchBytes:   8 << 20,
		BatchTimeout: 2 * time.Millisecond,
		MaxAttempts:  5,
		Compression:  kafka.Lz4,
	}
}

// Close releases the writers.
func (p *Processor) Close() error {
	var errs []error
	for _, c := range p.closers {
		errs = append(errs, c())
	}
	return errors.Join(errs...)
}

// Ready reports why the processor is not working yet, or nil.
func (p *Processor) Ready() error {
	if !p.joined.Load() {
		if e := p.groupErr.Load(); e != nil {
			return fmt.Errorf("not in consumer group %s: %w", p.cfg.GroupID, *e)
		}
		return fmt.Errorf("joining consumer group %s", p.cfg.GroupID)
	}
	return nil
}

// Partitions is the input topic's partition count, 0 until known.
func (p *Processor) Partitions() int { return int(p.partitions.Load()) }

// PipelineWatermark is the latest pipeline watermark this instance computed.
func (p *Processor) PipelineWatermark() int64 { return p.wmNow.Load() }

// Prepare creates the topics that do not exist yet and learns the input
// topic's partition count. It fails when Kafka does not answer.
func (p *Processor) Prepare(ctx context.Context) error {
	// Through the client a TLS or SASL refusal can read as "broker not
	// available"; a direct connection first names what to fix.
	if err := p.PingKafka(ctx); err != nil {
		return err
	}
	topics := []kafka.TopicConfig{
		{Topic: p.cfg.InputTopic, NumPartitions: p.cfg.InputPartitions, ReplicationFactor: p.cfg.ReplicationFactor},
		{Topic: p.cfg.OutputTopic, NumPartitions: p.cfg.OutputPartitions, ReplicationFactor: p.cfg.ReplicationFactor},
		{Topic: p.cfg.DeadLetterTopic, NumPartitions: p.cfg.OutputPartitions, ReplicationFactor: p.cfg.ReplicationFactor},
	}
	if p.cfg.LateTopic != "" {
		topics = append(topics, kafka.TopicConfig{Topic: p.cfg.LateTopic, NumPartitions: p.cfg.OutputPartitions, ReplicationFactor: p.cfg.ReplicationFactor})
	}
	if err := EnsureTopics(ctx, p.client, topics...); err != nil {
		return err
	}
	p.checkTimestampType(ctx)
	return p.refreshPartitions(ctx)
}

// checkTimestampType warns when watermark.max_future is measured against a
// clock other than the one the topic declares: on a LogAppendTime topic
// kafka-go still reports each record's producer timestamp (it ignores the
// batch's append time), so the bound is then taken from the producer's
// clock. Best effort: a topic whose configuration cannot be read is not
// checked.
func (p *Processor) checkTimestampType(ctx context.Context) {
	if p.cfg.EventTime.MaxFuture <= 0 {
		return
	}
	resp, err := p.client.DescribeConfigs(ctx, &kafka.DescribeConfigsRequest{Resources: []kafka.DescribeConfigRequestResource{{
		ResourceType: kafka.ResourceTypeTopic, ResourceName: p.cfg.InputTopic, ConfigNames: []string{"message.timestamp.type"},
	}}})
	if err != nil || len(resp.Resources) != 1 || resp.Resources[0].Error != nil {
		p.log.Debug("could not read the input topic's message.timestamp.type", "topic", p.cfg.InputTopic, "error", err)
		return
	}
	for _, e := range resp.Resources[0].ConfigEntries {
		if e.ConfigName == "message.timestamp.type" && e.ConfigValue == "LogAppendTime" {
			p.log.Warn("the input topic uses LogAppendTime, but kafka-go reports each record's producer timestamp: "+
				"watermark.max_future is measured against the producers' clocks; set it to 0 if they cannot be trusted",
				"topic", p.cfg.InputTopic, "max_future", p.cfg.EventTime.MaxFuture)
		}
	}
}

// EnsureTopics creates the topics that do not exist; existing ones are left
// as they are.
func EnsureTopics(ctx context.Context, client *kafka.Client, topics ...kafka.TopicConfig) error {
	resp, err := client.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: topics})
	if err != nil {
		return fmt.Errorf("create topics on %s: %w (is Kafka running and reachable at kafka.brokers?)", client.Addr, err)
	}
	for name, e := range resp.Errors {
		if e != nil && !errors.Is(e, kafka.TopicAlreadyExists) {
			return fmt.Errorf("create topic %s: %w", name, e)
		}
	}
	return nil
}

func (p *Processor) refreshPartitions(ctx context.Context) error {
	md, err := p.client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{p.cfg.InputTopic}})
	if err != nil {
		return fmt.Errorf("metadata of %s: %w", p.cfg.InputTopic, err)
	}
	if len(md.Topics) != 1 || md.Topics[0].Error != nil {
		var e error
		if len(md.Topics) == 1 {
			e = md.Topics[0].Error
		}
		return fmt.Errorf("metadata of %s: %v", p.cfg.InputTopic, e)
	}
	p.partitions.Store(int64(len(md.Topics[0].Partitions)))
	return nil
}

// Run consumes until ctx ends, then saves every partition's state, leaves
// the group and returns nil. It returns an error only when it cannot start.
func (p *Processor) Run(ctx context.Context) error {
	group, err := kafka.NewConsumerGroup(kafka.ConsumerGroupConfig{
		ID:                     p.cfg.GroupID,
		Brokers:                p.cfg.Brokers,
		Dialer:                 p.dialer,
		Topics:                 []string{p.cfg.InputTopic},
		SessionTimeout:         p.cfg.SessionTimeout,
		HeartbeatInterval:      p.cfg.SessionTimeout / 5,
		RebalanceTimeout:       30 * time.Second,
		JoinGroupBackoff:       time.Second,
		WatchPartitionChanges:  true,
		PartitionWatchInterval: 10 * time.Second,
		StartOffset:            kafka.FirstOffset,
		ErrorLogger:            kafka.LoggerFunc(func(msg string, args ...any) { p.log.Debug("kafka group: " + fmt.Sprintf(msg, args...)) }),
	})
	if err != nil {
		return fmt.Errorf("consumer group %s: %w", p.cfg.GroupID, err)
	}
	var wg sync.WaitGroup
	wg.Go(func() { p.runCloser(ctx) })
	defer wg.Wait()
	for {
		gen, err := group.Next(ctx)
		if ctx.Err() != nil {
			p.log.Info("stopping: saving state and leaving the consumer group")
			p.joined.Store(false)
			closeErr := group.Close() // waits for every partition worker's final checkpoint
			p.log.Info("left the consumer group", "error", closeErr)
			return nil
		}
		if err != nil {
			p.joined.Store(false)
			p.groupErr.Store(&err)
			p.metrics.kafkaErrors.Inc()
			p.log.Warn("consumer group error; retrying", "group", p.cfg.GroupID, "error", err)
			continue
		}
		p.groupErr.Store(nil)
		p.joined.Store(true)
		p.metrics.Rebalances.Inc()
		assigned := gen.Assignments[p.cfg.InputTopic]
		ids := make([]int, len(assigned))
		for i, a := range assigned {
			ids[i] = a.ID
		}
		p.log.Info("joined consumer group", "group", p.cfg.GroupID, "generation", gen.ID, "member", gen.MemberID, "partitions", ids)
		p.metrics.Assigned.Set(float64(len(assigned)))
		p.metrics.ConsumerLag.Reset()
		for _, id := range ids {
			gen.Start(func(ctx context.Context) { p.runPartition(ctx, id) })
		}
		gen.Start(func(ctx context.Context) { p.runCommitter(ctx, gen) })
	}
}

// runCommitter copies saved offsets to the consumer group every few seconds,
// so lag tools see progress. Redis stays the source of truth.
func (p *Processor) runCommitter(ctx context.Context, gen *kafka.Generation) {
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			p.commit(gen)
			return
		case <-t.C:
			p.commit(gen)
		}
	}
}

func (p *Processor) commit(gen *kafka.Generation) {
	p.commitMu.Lock()
	if len(p.commits) == 0 {
		p.commitMu.Unlock()
		return
	}
	offsets := make(map[int]int64, len(p.commits))
	for k, v := range p.commits {
		offsets[k] = v
	}
	clear(p.commits)
	p.commitMu.Unlock()
	if err := gen.CommitOffsets(map[string]map[int]int64{p.cfg.InputTopic: offsets}); err != nil {
		p.log.Debug("commit offsets to the consumer group failed (Redis holds them anyway)", "error", err)
	}
}

func (p *Processor) savedOffset(partition int, offset int64) {
	p.commitMu.Lock()
	p.commits[partition] = offset
	p.commitMu.Unlock()
}

// PingKafka checks that a broker answers on a fresh connection (the
// client's pooled connections and cached metadata would hide an outage). A
// security refusal is a *kafkasecurity.RefusedError naming the keys to fix.
func (p *Processor) PingKafka(ctx context.Context) error {
	return kafkasecurity.Probe(ctx, p.dialer, p.cfg.Brokers)
}

// nudgeCloser makes the closer run a round now rather than at its next tick.
func (p *Processor) nudgeCloser() {
	select {
	case p.closeNow <- struct{}{}:
	default:
	}
}
