// Command barefetch is the limit row of `make bench-compare`: how fast
// kafka-go alone reads the input, with nothing done to the records. For
// every partition of the topic, one goroutine dials the partition's leader
// directly, as stats-processor's consumer does (one metadata lookup, then
// DialPartition), samples the high-water mark, and fetches from the earliest
// offset with the consumer's fetch (Conn.ReadBatchWith, MinBytes 1, MaxBytes
// kafka.fetch_max_bytes, MaxWait kafka.fetch_max_wait, read from the
// processor's pinned defaults in configs/stats-processor.yaml), reading every
// record with Batch.ReadMessage, the consumer's call, and discarding it,
// until the partition reaches the sampled high-water mark.
//
// It prints one line of figures (see figures) and exits 0, or exits 1 when a
// partition cannot be read to its mark; a fetch that fails is tried again
// once on a new connection from the same offset, as the consumer does.
// bench/compare/run.sh runs it under `measure run -until-exit`, which times
// it from process start to exit like the ConsumerPerformance rows.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/segmentio/kafka-go"
)

func main() {
	brokers := flag.String("brokers", os.Getenv("VS_KAFKA_BROKERS"), "Kafka bootstrap brokers, comma-separated")
	topic := flag.String("topic", "", "input topic to read")
	configFile := flag.String("config", "configs/stats-processor.yaml", "the processor's YAML file, for kafka.fetch_max_bytes and kafka.fetch_max_wait")
	flag.Parse()
	if *brokers == "" || *topic == "" {
		fmt.Fprintln(os.Stderr, "barefetch: -brokers (or VS_KAFKA_BROKERS) and -topic are required")
		os.Exit(2)
	}
	yaml, err := os.ReadFile(*configFile)
	if err != nil {
		fmt.Fprintf(os.Stderr, "barefetch: %v (run it from the repository root, or name the processor's YAML file with -config)\n", err)
		os.Exit(2)
	}
	fetch, err := fetchConfig(yaml)
	if err != nil {
		fmt.Fprintf(os.Stderr, "barefetch: %s: %v\n", *configFile, err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	f, err := run(ctx, strings.Split(*brokers, ","), *topic, fetch)
	if err != nil {
		fmt.Fprintf(os.Stderr, "barefetch: %v\n", err)
		os.Exit(1)
	}
	fmt.Println(f)
}

// dialer connects as the processor's does, without TLS or SASL (the local
// stack has neither).
var dialer = &kafka.Dialer{ClientID: "barefetch", Timeout: 10 * time.Second, DualStack: true}

// run reads every partition of topic up to its high-water mark at start.
func run(ctx context.Context, brokers []string, topic string, fetch kafka.ReadBatchConfig) (figures, error) {
	start := time.Now()
	var parts []kafka.Partition
	var errs []error
	for _, b := range brokers {
		p, err := dialer.LookupPartitions(ctx, "tcp", b, topic)
		if err == nil {
			parts, errs = p, nil
			break
		}
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return figures{}, fmt.Errorf("partitions of %s: %w", topic, err)
	}
	if len(parts) == 0 {
		return figures{}, fmt.Errorf("%s has no partitions; check the topic name", topic)
	}
	f := figures{Partitions: len(parts), MaxBytes: fetch.MaxBytes, MaxWait: fetch.MaxWait}
	var mu sync.Mutex
	var wg sync.WaitGroup
	var firstFetch time.Time
	for _, p := range parts {
		wg.Go(func() {
			r := &partitionReader{p: p, fetch: fetch}
			err := r.read(ctx)
			mu.Lock()
			defer mu.Unlock()
			f.Records += r.records
			f.Bytes += r.bytes
			f.Fetches += r.fetches
			if firstFetch.IsZero() || (!r.firstFetch.IsZero() && r.firstFetch.Before(firstFetch)) {
				firstFetch = r.firstFetch
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("%s/%d: %w", topic, p.ID, err))
			}
		})
	}
	wg.Wait()
	end := time.Now()
	if err := errors.Join(errs...); err != nil {
		return figures{}, err
	}
	f.Seconds = end.Sub(start).Seconds()
	if !firstFetch.IsZero() {
		f.FetchSeconds = end.Sub(firstFetch).Seconds()
	}
	return f, nil
}

// partitionReader reads one partition from its first offset to the
// high-water mark it finds at start.
type partitionReader struct {
	p     kafka.Partition
	fetch kafka.ReadBatchConfig

	records, bytes, fetches int64
	firstFetch              time.Time
}

// fetchGuard is how long past its wait a fetch may go unanswered: the
// consumer's guard.
const fetchGuard = 10 * time.Second

func (r *partitionReader) read(ctx context.Context) error {
	conn, err := dialer.DialPartition(ctx, "tcp", "", r.p)
	if err != nil {
		return fmt.Errorf("connect to the leader %s:%d: %w", r.p.Leader.Host, r.p.Leader.Port, err)
	}
	defer func() { conn.Close() }()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	offset, end, err := conn.ReadOffsets()
	_ = conn.SetDeadline(time.Time{})
	if err != nil {
		return fmt.Errorf("read offsets: %w", err)
	}
	if _, err := conn.Seek(offset, kafka.SeekAbsolute|kafka.SeekDontCheck); err != nil {
		return fmt.Errorf("seek to %d: %w", offset, err)
	}
	redialedAt := int64(-1)
	for offset < end {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if r.firstFetch.IsZero() {
			r.firstFetch = time.Now()
		}
		next, err := r.fetchOnce(conn, offset)
		if err != nil {
			if offset == redialedAt {
				return fmt.Errorf("fetch at %d, again on a new connection: %w", offset, err)
			}
			redialedAt = offset
			conn.Close()
			if conn, err = dialer.DialPartition(ctx, "tcp", "", r.p); err != nil {
				return fmt.Errorf("connect to the leader %s:%d again: %w", r.p.Leader.Host, r.p.Leader.Port, err)
			}
			if _, err := conn.Seek(offset, kafka.SeekAbsolute|kafka.SeekDontCheck); err != nil {
				return fmt.Errorf("seek to %d: %w", offset, err)
			}
			continue
		}
		offset = next
	}
	return nil
}

// fetchOnce reads one batch from offset, as the consumer's fetch does
// (one deadline for the fetch, one for reading the batch), and returns the
// next offset to read. Like the consumer, it seeks only after a dial:
// the connection reads on from where the last batch ended.
func (r *partitionReader) fetchOnce(conn *kafka.Conn, offset int64) (int64, error) {
	r.fetches++
	_ = conn.SetReadDeadline(time.Now().Add(r.fetch.MaxWait + fetchGuard))
	batch := conn.ReadBatchWith(r.fetch)
	defer conn.SetReadDeadline(time.Time{})
	_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	for {
		msg, err := batch.ReadMessage()
		if err != nil {
			batch.Close()
			if errors.Is(err, io.EOF) || errors.Is(err, kafka.RequestTimedOut) {
				return offset, nil // the end of the batch
			}
			return offset, err
		}
		if msg.Offset < offset {
			continue // a compressed batch can start before the offset asked for
		}
		offset = msg.Offset + 1
		r.records++
		r.bytes += int64(len(msg.Key) + len(msg.Value))
	}
}
