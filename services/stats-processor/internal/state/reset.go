package state

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/redis/go-redis/v9"
)

// PipelineKeys lists every key of the pipeline in Redis: its own keys
// (meta, closed windows, lease) and each partition's hash; the keys of
// other pipelines (another prefix, another input topic) are never listed.
// On a Redis Cluster every master is scanned.
func (s *RedisStore) PipelineKeys(ctx context.Context) ([]string, error) {
	own := globEscape(s.keys.prefix) + ":{" + globEscape(s.keys.topic) + "}:*"
	parts := globEscape(s.keys.prefix) + ":{" + globEscape(s.keys.topic) + ".[0-9]*}"
	partPrefix := s.keys.prefix + ":{" + s.keys.topic + "."
	scan := func(ctx context.Context, c redis.UniversalClient) ([]string, error) {
		var found []string
		for _, pattern := range []string{own, parts} {
			it := c.Scan(ctx, 0, pattern, 1000).Iterator()
			for it.Next(ctx) {
				k := it.Val()
				if strings.HasPrefix(k, partPrefix) && !isPartitionKey(k[len(partPrefix):]) {
					continue // another topic whose name continues with a dot
				}
				found = append(found, k)
			}
			if err := it.Err(); err != nil {
				return nil, err
			}
		}
		return found, nil
	}
	var keys []string
	var err error
	if cc, ok := s.rdb.(*redis.ClusterClient); ok {
		var mu sync.Mutex
		err = cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error {
			found, err := scan(ctx, c)
			mu.Lock()
			defer mu.Unlock()
			keys = append(keys, found...)
			return err
		})
	} else {
		keys, err = scan(ctx, s.rdb)
	}
	if err != nil {
		return nil, fmt.Errorf("list the pipeline's keys: %w", err)
	}
	slices.Sort(keys)
	return keys, nil
}

// DeleteKeys deletes keys and returns how many existed.
func (s *RedisStore) DeleteKeys(ctx context.Context, keys []string) (int64, error) {
	cmds := make([]*redis.IntCmd, len(keys))
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, k := range keys {
			cmds[i] = p.Del(ctx, k)
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("delete the pipeline's keys: %w", err)
	}
	var n int64
	for _, c := range cmds {
		n += c.Val()
	}
	return n, nil
}

// isPartitionKey reports whether rest, what follows "P:{T." in a key, is a
// partition number and the closing brace.
func isPartitionKey(rest string) bool {
	num, ok := strings.CutSuffix(rest, "}")
	if !ok || num == "" {
		return false
	}
	for _, r := range num {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// globEscape quotes the characters SCAN's MATCH pattern treats specially.
func globEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[]\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}
