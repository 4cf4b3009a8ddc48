package consumer

import (
	"context"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/vehicle-stats/vehicle-stats/services/stats-processor/internal/metrics"
)

// source is where a worker reads its partition: a connection of its own to
// the partition's leader (connSource), or the consumer's shared fetches
// (sharedSource) when the instance owns more than Config.FetchSharedAbove
// partitions.
type source interface {
	// offsets returns the partition's log start and end.
	offsets(ctx context.Context) (first, last int64, err error)
	// seek makes the next fetch read from offset.
	seek(offset int64) error
	// fetch reads one batch from w.offset on and counts it (w.take).
	fetch(ctx context.Context, w *worker) error
	// recordAt reads the record at offset.
	recordAt(ctx context.Context, offset int64) (kafka.Message, error)
	// recover makes the source usable again after a failed fetch.
	recover(ctx context.Context, w *worker) error
	close()
}

// openSource returns the partition's source: the shared fetches when mux
// is not nil, else a connection to its leader.
func (c *Consumer) openSource(ctx context.Context, partition int, mux *fetchMux) (source, error) {
	if mux != nil {
		return &sharedSource{mux: mux, partition: partition}, nil
	}
	conn, err := c.dialLeader(ctx, partition)
	if err != nil {
		return nil, err
	}
	return &connSource{c: c, partition: partition, conn: conn}, nil
}

// connSource reads a partition over a connection of its own.
type connSource struct {
	c         *Consumer
	partition int
	conn      *kafka.Conn // nil after a failed redial
}

func (s *connSource) close() {
	if s.conn != nil {
		s.conn.Close()
	}
}

func (s *connSource) offsets(context.Context) (first, last int64, err error) {
	_ = s.conn.SetDeadline(time.Now().Add(10 * time.Second))
	defer s.conn.SetDeadline(time.Time{})
	first, last, err = s.conn.ReadOffsets()
	if err != nil {
		return 0, 0, fmt.Errorf("read offsets: %w", err)
	}
	return first, last, nil
}

func (s *connSource) seek(offset int64) error {
	if _, err := s.conn.Seek(offset, kafka.SeekAbsolute); err != nil {
		return fmt.Errorf("seek %s/%d to %d: %w", s.c.topics.InputTopic, s.partition, offset, err)
	}
	return nil
}

// recover connects to the partition's leader again and seeks to the next
// offset to read (without checking it: two requests; the next fetch
// reports one out of range).
func (s *connSource) recover(ctx context.Context, w *worker) error {
	s.close()
	s.conn = nil
	conn, err := s.c.dialLeader(ctx, s.partition)
	if err != nil {
		return err
	}
	if _, err := conn.Seek(w.offset, kafka.SeekAbsolute|kafka.SeekDontCheck); err != nil {
		conn.Close()
		return metrics.Failed(metrics.Kafka, fmt.Errorf("seek %s/%d to %d: %w", s.c.topics.InputTopic, s.partition, w.offset, err))
	}
	s.conn = conn
	return nil
}

// recordAt reads on a connection of its own: a batch read in part and
// closed must not leave the worker's connection out of step.
func (s *connSource) recordAt(ctx context.Context, offset int64) (kafka.Message, error) {
	conn, err := s.c.dialLeader(ctx, s.partition)
	if err != nil {
		return kafka.Message{}, err
	}
	defer conn.Close()
	if _, err := conn.Seek(offset, kafka.SeekAbsolute); err != nil {
		return kafka.Message{}, fmt.Errorf("seek to %d: %w", offset, err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	batch := conn.ReadBatchWith(kafka.ReadBatchConfig{MinBytes: 1, MaxBytes: 1 << 20, MaxWait: time.Second})
	defer batch.Close()
	for {
		msg, err := batch.ReadMessage()
		if err != nil {
			return kafka.Message{}, err
		}
		if msg.Offset >= offset {
			return msg, nil
		}
	}
}

// fetch reads one batch and counts it. An empty batch after the broker's
// wait is normal.
func (s *connSource) fetch(ctx context.Context, w *worker) error {
	conn := s.conn
	wait := w.fetchWait()
	// The broker holds the fetch for at most wait (MaxWait, sent as it is);
	// the connection's deadline is only a guard against a broker that does
	// not answer. Left to derive the wait from the deadline, kafka-go takes
	// a response that arrives just after it as a timeout and may leave the
	// rest of it unread on the connection, whose next response is then out
	// of step ("multiple Read calls return no data or error").
	_ = conn.SetReadDeadline(time.Now().Add(wait + fetchGuard))
	batch := conn.ReadBatchWith(kafka.ReadBatchConfig{MinBytes: 1, MaxBytes: w.c.cfg.FetchMaxBytes, MaxWait: wait})
	defer conn.SetReadDeadline(time.Time{})
	// A fetch that failed before its response's header was read has no
	// high-water mark (kafka-go reports 0): taken as one, it would make a
	// partition that read nothing look caught up, soon idle, and let
	// windows close without its records (seen with 240 partitions on a
	// starved machine before fetches sent their own wait: 4 % of the events
	// came too late and were dropped).
	hw := int64(-1)
	if batch.Err() == nil {
		hw = batch.HighWaterMark()
	}
	// One deadline for the whole batch: setting it per message costs a clock
	// read and a poller lock each time (seen in the catch-up profile).
	_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	n := 0
	for {
		msg, err := batch.ReadMessage()
		if err != nil {
			batch.Close()
			w.fetched(n, hw)
			return w.fetchFailed(ctx, err, s)
		}
		if msg.Offset < w.offset {
			continue // a compressed batch can start before the offset asked for
		}
		n++
		if w.take(msg) {
			// Stop here and save (maybeSave). Closing the batch discards
			// the rest of the response and leaves the connection at
			// w.offset, where the next fetch reads.
			err := batch.Close()
			w.fetched(n, hw)
			if err != nil {
				return fmt.Errorf("fetch %s/%d at %d: %w", w.c.topics.InputTopic, w.partition, w.offset, err)
			}
			return nil
		}
	}
}

// sharedSource reads a partition through the consumer's shared fetches.
type sharedSource struct {
	mux       *fetchMux
	partition int
	pending   []kafka.Message // records of the last answer not counted yet (the worker stopped to save)
	hw        int64
}

func (s *sharedSource) close() {}

// seek drops what the last answer held: the next fetch asks from offset
// (the worker's).
func (s *sharedSource) seek(int64) error {
	s.pending = nil
	return nil
}

// recover needs nothing: the shared fetches pause after a failure.
func (s *sharedSource) recover(context.Context, *worker) error {
	s.pending = nil
	return nil
}

// offsets asks with the other workers: a rebalance's 1,000 asks go in one
// or two requests (offsetBatch).
func (s *sharedSource) offsets(ctx context.Context) (first, last int64, err error) {
	return s.mux.offs.offsets(ctx, s.partition)
}

func (s *sharedSource) recordAt(ctx context.Context, offset int64) (kafka.Message, error) {
	m := s.mux
	res, err := m.client.Fetch(ctx, &kafka.FetchRequest{Topic: m.c.topics.InputTopic, Partition: s.partition, Offset: offset,
		MinBytes: 1, MaxBytes: 1 << 20, MaxWait: time.Second})
	if err != nil {
		return kafka.Message{}, err
	}
	if res.Error != nil {
		return kafka.Message{}, res.Error
	}
	msgs, err := readRecords(res.Records, offset)
	if err != nil {
		return kafka.Message{}, err
	}
	if len(msgs) == 0 {
		return kafka.Message{}, fmt.Errorf("no record at %d", offset)
	}
	return msgs[0], nil
}

// fetch counts the records the last answer still holds, or else asks the
// shared fetches for more.
func (s *sharedSource) fetch(ctx context.Context, w *worker) error {
	if len(s.pending) == 0 {
		f := s.mux.fetch(ctx, s.partition, w.offset, w.fetchWait())
		if f.err != nil {
			w.fetched(0, -1)
			return w.fetchFailed(ctx, f.err, s)
		}
		s.pending, s.hw = f.msgs, f.hw
		if len(s.pending) == 0 {
			w.fetched(0, f.hw)
			return nil
		}
	}
	n := 0
	for i, msg := range s.pending {
		if msg.Offset < w.offset {
			continue
		}
		n++
		if w.take(msg) {
			s.pending = s.pending[i+1:]
			w.fetched(n, s.hw)
			return nil
		}
	}
	s.pending = nil
	w.fetched(n, s.hw)
	return nil
}
