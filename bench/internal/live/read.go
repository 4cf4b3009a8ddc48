package live

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"
)

// Arrival is one window record as the reader saw it.
type Arrival struct {
	Key   string
	W     WindowType
	End   time.Time
	Count int64
	At    time.Time
}

// Reader consumes a system's output topic (one partition) from its start,
// with read_committed, and notes when each record arrives.
type Reader struct {
	mu       sync.Mutex
	first    map[string]Arrival // the first Arrival of each key
	dups     int
	bad      int
	badOnes  []string // the first undecodable records, for the report
	firstErr error
}

// NewReader returns a Reader that has seen nothing yet.
func NewReader() *Reader { return &Reader{first: map[string]Arrival{}} }

// Run reads topic until ctx ends; a read error is kept for Snapshot.
func (r *Reader) Run(ctx context.Context, brokers []string, topic string) {
	kr := kafka.NewReader(kafka.ReaderConfig{
		Brokers: brokers, Topic: topic, Partition: 0,
		MinBytes: 1, MaxBytes: 1 << 20, MaxWait: 100 * time.Millisecond,
		IsolationLevel: kafka.ReadCommitted,
	})
	defer kr.Close()
	if err := kr.SetOffset(kafka.FirstOffset); err != nil {
		r.fail(err)
		return
	}
	for {
		m, err := kr.ReadMessage(ctx)
		now := time.Now()
		if err != nil {
			if ctx.Err() == nil {
				r.fail(err)
			}
			return
		}
		var v struct {
			Start, End  time.Time
			VehicleType string
			Count       int64
		}
		if isMarker(m) {
			continue
		}
		r.mu.Lock()
		if err := json.Unmarshal(m.Value, &v); err != nil || v.End.IsZero() {
			r.bad++
			if len(r.badOnes) < 3 {
				r.badOnes = append(r.badOnes, fmt.Sprintf("offset %d: key %q value %q", m.Offset, m.Key, m.Value))
			}
		} else if _, seen := r.first[string(m.Key)]; seen {
			r.dups++
		} else {
			r.first[string(m.Key)] = Arrival{
				Key: string(m.Key), W: WindowType{v.Start.UnixMilli(), v.VehicleType},
				End: v.End, Count: v.Count, At: now,
			}
		}
		r.mu.Unlock()
	}
}

func (r *Reader) fail(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.firstErr == nil {
		r.firstErr = fmt.Errorf("read output: %w", err)
	}
}

// Has reports whether every one of want has arrived.
func (r *Reader) Has(want []WindowType) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	seen := make(map[WindowType]bool, len(r.first))
	for _, a := range r.first {
		seen[a.W] = true
	}
	for _, w := range want {
		if !seen[w] {
			return false
		}
	}
	return true
}

// Snapshot returns the arrivals so far, the duplicates and undecodable records.
func (r *Reader) Snapshot() ([]Arrival, int, int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Arrival, 0, len(r.first))
	for _, a := range r.first {
		out = append(out, a)
	}
	return out, r.dups, r.bad, r.firstErr
}

// BadOnes are the first undecodable records, for the report.
func (r *Reader) BadOnes() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.badOnes...)
}

// isMarker reports whether m is a transaction's commit or abort marker,
// which kafka-go's Reader hands out as a message: key 4 bytes (version 0,
// type 0 or 1), value 6 bytes. No output key is 4 bytes long.
func isMarker(m kafka.Message) bool {
	return len(m.Key) == 4 && m.Key[0] == 0 && m.Key[1] == 0 && m.Key[2] == 0 && m.Key[3] <= 1 && len(m.Value) == 6
}
