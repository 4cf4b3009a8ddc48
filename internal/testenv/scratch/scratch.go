package scratch

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	mrand "math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/segmentio/kafka-go"
)

// UniqueName returns base plus a random suffix, safe as a Kafka topic name or
// a Redis key prefix, so tests that share a broker never see each other's data.
func UniqueName(base string) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return base + "-" + hex.EncodeToString(b[:])
}

// DeleteTopics deletes topics (a test's or a tool's clean-up).
func DeleteTopics(ctx context.Context, brokers []string, topics ...string) error {
	c := &kafka.Client{Addr: kafka.TCP(brokers...)}
	if _, err := c.DeleteTopics(ctx, &kafka.DeleteTopicsRequest{Topics: topics}); err != nil {
		return fmt.Errorf("delete topics %v: %w", topics, err)
	}
	return nil
}

// DeleteKeys deletes every key matching the glob pattern match (SCAN, then
// DEL in slices of 500): a test's or a tool's clean-up.
func DeleteKeys(ctx context.Context, rdb *redis.Client, match string) error {
	iter := rdb.Scan(ctx, 0, match, 1000).Iterator()
	var keys []string
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	if err := iter.Err(); err != nil {
		return fmt.Errorf("scan %s: %w", match, err)
	}
	for len(keys) > 0 {
		n := min(len(keys), 500)
		if err := rdb.Del(ctx, keys[:n]...).Err(); err != nil {
			return fmt.Errorf("delete keys %s: %w", match, err)
		}
		keys = keys[n:]
	}
	return nil
}

// CreateTopic creates a topic with replication factor 1 and waits until every
// partition has a leader.
func CreateTopic(ctx context.Context, brokers []string, name string, partitions int) error {
	c := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 10 * time.Second}
	resp, err := c.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{{
		Topic: name, NumPartitions: partitions, ReplicationFactor: 1,
	}}})
	if err != nil {
		return err
	}
	if err := resp.Errors[name]; err != nil {
		return err
	}
	for {
		md, err := c.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{name}})
		if err == nil && len(md.Topics) == 1 && md.Topics[0].Error == nil && len(md.Topics[0].Partitions) == partitions {
			ready := true
			for _, p := range md.Topics[0].Partitions {
				if p.Error != nil || p.Leader.ID < 0 {
					ready = false
				}
			}
			if ready {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("topic %s has no leaders yet: %w", name, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// FreePort returns a TCP port free on 127.0.0.1 a moment ago (for tools
// outside tests: benchmarks, the soak). See FreePorts.
func FreePort() (int, error) { return FreePorts(1) }

// FreePorts returns the first of n consecutive TCP ports that were free on
// 127.0.0.1 a moment ago, chosen below the kernel's ephemeral range
// (/proc/sys/net/ipv4/ip_local_port_range). There, between the check and
// the server's bind, only another server can take a port; inside it any
// outgoing connection can (Kafka clients open many), which is what a port
// picked by listening on port 0 risks.
func FreePorts(n int) (int, error) {
	low := ephemeralLow()
	for range 100 {
		first := 10000 + mrand.IntN(low-10000-n)
		free := true
		for port := first; port < first+n && free; port++ {
			l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
			if err != nil {
				free = false
				continue
			}
			l.Close()
		}
		if free {
			return first, nil
		}
	}
	return 0, fmt.Errorf("no %d free consecutive ports between 10000 and %d in 100 tries", n, low)
}

// ephemeralLow is where the kernel's ephemeral ports start (32768 when it
// cannot be read, Linux's default).
func ephemeralLow() int {
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if v, err := strconv.Atoi(f[0]); err == nil && v > 12000 {
				return v
			}
		}
	}
	return 32768
}
