package state

import (
	"context"
	"fmt"
	"slices"
	"strconv"
)

// MaxWoken is the most partitions a Woken names; one more makes it stand
// for every partition. Reading that many statuses costs about as much as
// the full read a closer does on its tick anyway.
const MaxWoken = 256

// Woken merges the partitions that wakes named until it is taken. The zero
// value is empty. It is not safe for concurrent use.
type Woken struct {
	all   bool
	names []int // ascending, distinct
}

// Add names partition p; a negative p (a wake that named no partition) or
// more than MaxWoken names make w stand for every partition.
func (w *Woken) Add(p int) {
	if w.all {
		return
	}
	i, found := slices.BinarySearch(w.names, p)
	switch {
	case found:
	case p < 0 || len(w.names) == MaxWoken:
		w.all, w.names = true, nil
	default:
		w.names = slices.Insert(w.names, i, p)
	}
}

// Empty reports whether nothing was added since w was zero.
func (w Woken) Empty() bool { return !w.all && len(w.names) == 0 }

// Partitions returns the partitions named, ascending, or nil when w stands
// for every partition (or is empty).
func (w Woken) Partitions() []int {
	if w.all {
		return nil
	}
	return w.names
}

// Wake tells the closers of every instance that partition saved progress
// that may let windows close (Redis pub/sub on the pipeline's channel, the
// partition's number as the message), so the lease holder reads that
// partition's status and closes them now rather than at its next tick.
// Best effort: a lost wake costs one close interval.
func (s *RedisStore) Wake(ctx context.Context, partition int) error {
	if err := s.rdb.Publish(ctx, s.keys.Wake(), strconv.Itoa(partition)).Err(); err != nil {
		return fmt.Errorf("wake the closer: %w", err)
	}
	return nil
}

// Wakes delivers the partitions the wakes of any instance (Wake) named
// since the last receive, until ctx ends: wakes that come while one
// delivery is pending merge into it (Woken.Add), and a wake whose message
// is no partition number (an instance of an earlier version sends an empty
// one) stands for every partition. The subscription reconnects by itself
// after a Redis outage; wakes published meanwhile are lost.
func (s *RedisStore) Wakes(ctx context.Context) <-chan Woken {
	out := make(chan Woken)
	ps := s.rdb.Subscribe(ctx, s.keys.Wake())
	go func() {
		defer ps.Close()
		ch := ps.Channel()
		var pending Woken
		for {
			var send chan<- Woken // nil, so never ready, while nothing is pending
			if !pending.Empty() {
				send = out
			}
			select {
			case <-ctx.Done():
				return
			case m, ok := <-ch:
				if !ok {
					return
				}
				p, err := strconv.Atoi(m.Payload)
				if err != nil {
					p = -1
				}
				pending.Add(p)
			case send <- pending:
				pending = Woken{}
			}
		}
	}()
	return out
}
