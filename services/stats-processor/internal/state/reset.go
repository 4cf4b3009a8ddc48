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

// epochScript returns the largest fencing token any of KEYS has seen
// (their 'fence' and 'lease' fields) on the node of KEYS[1], and that
// node's clock in ms.
var epochScript = redis.NewScript(nowLua + `
local top = 0
for _, k in ipairs(KEYS) do
  if redis.call('TYPE', k).ok == 'hash' then
    for _, f in ipairs({'fence', 'lease'}) do
      top = math.max(top, tonumber(redis.call('HGET', k, f) or '0'))
    end
  end
end
return {top, now_ms()}
`)

// DeleteKeys deletes the pipeline's keys (PipelineKeys) and returns how
// many existed, but keeps its fences, raised: every partition hash and the
// meta are left holding only a new epoch as their fence (meta also as its
// last lease token), above every token ever issued. A closer that was
// paused through the reset and resumes with its old token is then refused
// by every key, fresh ones included, as it was before.
func (s *RedisStore) DeleteKeys(ctx context.Context, keys []string) (int64, error) {
	epoch := int64(0)
	for _, k := range keys {
		res, err := epochScript.Run(ctx, s.rdb, []string{k}).Int64Slice()
		if err != nil || len(res) != 2 {
			return 0, fmt.Errorf("read the pipeline's fences: %v %w", res, err)
		}
		epoch = max(epoch, res[0]+1, res[1])
	}
	if epoch == 0 {
		return 0, nil
	}
	cmds := make([]*redis.IntCmd, len(keys))
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, k := range keys {
			cmds[i] = p.Del(ctx, k)
		}
		p.HSet(ctx, s.keys.Meta(), "fence", epoch, "lease", epoch)
		for _, k := range keys {
			if strings.HasPrefix(k, s.keys.prefix+":{"+s.keys.topic+".") {
				p.HSet(ctx, k, "fence", epoch)
			}
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
