package state

import (
	"context"
	"fmt"
)

// Wake tells the closers of every instance that a partition saved progress
// that may let windows close (Redis pub/sub on the pipeline's channel), so
// the lease holder closes them now rather than at its next tick. Best
// effort: a lost wake costs one close interval.
func (s *RedisStore) Wake(ctx context.Context) error {
	if err := s.rdb.Publish(ctx, s.keys.Wake(), "").Err(); err != nil {
		return fmt.Errorf("wake the closer: %w", err)
	}
	return nil
}

// Wakes delivers a value for the wakes of any instance (Wake) until ctx
// ends; wakes that come while one is pending are merged. The subscription
// reconnects by itself after a Redis outage.
func (s *RedisStore) Wakes(ctx context.Context) <-chan struct{} {
	out := make(chan struct{}, 1)
	ps := s.rdb.Subscribe(ctx, s.keys.Wake())
	go func() {
		defer ps.Close()
		ch := ps.Channel()
		for {
			select {
			case <-ctx.Done():
				return
			case _, ok := <-ch:
				if !ok {
					return
				}
				select {
				case out <- struct{}{}:
				default:
				}
			}
		}
	}()
	return out
}
