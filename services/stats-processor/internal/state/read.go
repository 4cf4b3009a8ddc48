package state

import (
	"context"
	"fmt"
	"sort"
	"strconv"

	"github.com/redis/go-redis/v9"

	"github.com/vehicle-stats/vehicle-stats/pkg/model"
	"github.com/vehicle-stats/vehicle-stats/services/stats-processor/internal/eventtime"
)

// What GET /stats reads.

// ClosedWindows returns closed windows whose start is in [from, to), newest
// first, at most limit.
func (s *RedisStore) ClosedWindows(ctx context.Context, from, to int64, limit int) ([]ClosedWindow, error) {
	starts, err := s.rdb.ZRevRangeByScore(ctx, s.keys.Closed(), &redis.ZRangeBy{
		Min: strconv.FormatInt(from, 10), Max: "(" + strconv.FormatInt(to, 10), Count: int64(limit),
	}).Result()
	if err != nil {
		return nil, fmt.Errorf("list closed windows: %w", err)
	}
	return s.readWindows(ctx, starts)
}

// MetaAndClosedWindows reads the pipeline's meta and the first page of
// ClosedWindows from one snapshot (one MULTI on the pipeline's slot): a
// window the page does not list as closed is above the meta's closed bound.
// /stats reads the open windows before it, and drops those the meta says
// are closed, so no window is listed twice.
func (s *RedisStore) MetaAndClosedWindows(ctx context.Context, from, to int64, limit int) (Meta, []ClosedWindow, error) {
	var all *redis.MapStringStringCmd
	var starts *redis.StringSliceCmd
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		all = p.HGetAll(ctx, s.keys.Meta())
		starts = p.ZRevRangeByScore(ctx, s.keys.Closed(), &redis.ZRangeBy{
			Min: strconv.FormatInt(from, 10), Max: "(" + strconv.FormatInt(to, 10), Count: int64(limit),
		})
		return nil
	})
	if err != nil {
		return Meta{}, nil, fmt.Errorf("read meta and closed windows: %w", err)
	}
	meta, err := parseMeta(all.Val())
	if err != nil {
		return meta, nil, err
	}
	ws, err := s.readWindows(ctx, starts.Val())
	return meta, ws, err
}

// readWindows reads the closed windows starting at starts (their counts
// never change once written; an expired one is left out).
func (s *RedisStore) readWindows(ctx context.Context, starts []string) ([]ClosedWindow, error) {
	cmds := make([]*redis.MapStringStringCmd, len(starts))
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, st := range starts {
			start, _ := strconv.ParseInt(st, 10, 64)
			cmds[i] = p.HGetAll(ctx, s.keys.Window(start))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read closed windows: %w", err)
	}
	out := make([]ClosedWindow, 0, len(starts))
	for i, st := range starts {
		m := cmds[i].Val()
		if len(m) == 0 {
			continue // expired
		}
		start, _ := strconv.ParseInt(st, 10, 64)
		w := ClosedWindow{Start: start}
		for name, v := range m {
			t, ok := model.LookupVehicleType(name)
			if !ok {
				continue
			}
			w.Counts[t.Index()], _ = strconv.ParseInt(v, 10, 64)
		}
		out = append(out, w)
	}
	return out, nil
}

// OpenWindows sums the partial counts of windows not yet closed over the
// first partitions partitions, newest first.
func (s *RedisStore) OpenWindows(ctx context.Context, partitions int, closedThrough int64) ([]ClosedWindow, error) {
	cmds := make([]*redis.MapStringStringCmd, partitions)
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i := range cmds {
			cmds[i] = p.HGetAll(ctx, s.keys.Partition(i))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read open windows: %w", err)
	}
	sums := map[int64]eventtime.Counts{}
	for _, c := range cmds {
		for f, v := range c.Val() {
			start, ok := parseWindowField(f)
			if !ok || start+s.size <= closedThrough {
				continue
			}
			cnt, err := decodeCounts(v)
			if err != nil {
				return nil, fmt.Errorf("read open windows: %w", err)
			}
			sum := sums[start]
			for k := range sum {
				sum[k] += cnt[k]
			}
			sums[start] = sum
		}
	}
	out := make([]ClosedWindow, 0, len(sums))
	for start, c := range sums {
		out = append(out, ClosedWindow{Start: start, Counts: c})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Start > out[j].Start })
	return out, nil
}
