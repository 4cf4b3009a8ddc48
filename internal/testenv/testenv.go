package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moby/moby/client"
	"github.com/redis/go-redis/v9"
	"github.com/segmentio/kafka-go"
	"github.com/testcontainers/testcontainers-go"
	tckafka "github.com/testcontainers/testcontainers-go/modules/kafka"
	tcredis "github.com/testcontainers/testcontainers-go/modules/redis"
)

// Environment variables that point tests at running services.
const (
	EnvKafkaBrokers = "VS_KAFKA_BROKERS"
	EnvRedisAddr    = "VS_REDIS_ADDR"
)

// Images used when testcontainers starts the services. Confluent's
// confluent-local 7.9 is Apache Kafka 3.9, the older supported line (the
// local stack runs 4.4 by default).
const (
	KafkaImage = "confluentinc/confluent-local:7.9.0"
	RedisImage = "redis:7.4-alpine"
)

const howToRun = "integration test skipped: set " + EnvKafkaBrokers + " and " + EnvRedisAddr +
	" (`make test` starts a local Kafka and Redis and sets them) or run a Docker engine for testcontainers"

// Services holds the addresses of a real Kafka and Redis.
type Services struct {
	// Brokers are the Kafka bootstrap addresses.
	Brokers []string
	// RedisAddr is host:port of the Redis server.
	RedisAddr string
}

var (
	once     sync.Once
	services Services
	findErr  error
)

// Get returns the services for an integration test, or skips the test (under
// -short, or when no services can be found). A service that was configured
// but does not answer fails the test instead: that is a broken setup, not a
// missing one.
func Get(t testing.TB) Services {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test skipped under -short")
	}
	once.Do(func() { services, findErr = find() })
	if findErr == errNotAvailable {
		t.Skip(howToRun)
	}
	if findErr != nil {
		t.Fatalf("integration services: %v", findErr)
	}
	return services
}

var errNotAvailable = fmt.Errorf("no services")

func find() (Services, error) {
	brokers, addr := os.Getenv(EnvKafkaBrokers), os.Getenv(EnvRedisAddr)
	if brokers != "" && addr != "" {
		s := Services{Brokers: strings.Split(brokers, ","), RedisAddr: addr}
		return s, ping(s)
	}
	if brokers != "" || addr != "" {
		return Services{}, fmt.Errorf("set both %s and %s, or neither", EnvKafkaBrokers, EnvRedisAddr)
	}
	if !dockerAnswers() {
		return Services{}, errNotAvailable
	}
	return startContainers()
}

func ping(s Services) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := &kafka.Client{Addr: kafka.TCP(s.Brokers...), Timeout: 10 * time.Second}
	if _, err := c.Metadata(ctx, &kafka.MetadataRequest{}); err != nil {
		return fmt.Errorf("kafka at %v does not answer (is the local stack running? `deploy/local/stack.sh start`): %w", s.Brokers, err)
	}
	rdb := redis.NewClient(&redis.Options{Addr: s.RedisAddr})
	defer rdb.Close()
	if err := rdb.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redis at %s does not answer (is the local stack running? `deploy/local/stack.sh start`): %w", s.RedisAddr, err)
	}
	return nil
}

func dockerAnswers() bool {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	cli, err := testcontainers.NewDockerClientWithOpts(ctx)
	if err != nil {
		return false
	}
	defer cli.Close()
	_, err = cli.Ping(ctx, client.PingOptions{})
	return err == nil
}

func startContainers() (Services, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	kc, err := tckafka.Run(ctx, KafkaImage, tckafka.WithClusterID("vehicle-stats-test"),
		testcontainers.WithEnv(map[string]string{"KAFKA_AUTO_CREATE_TOPICS_ENABLE": "false"}))
	if err != nil {
		return Services{}, fmt.Errorf("start kafka container: %w", err)
	}
	brokers, err := kc.Brokers(ctx)
	if err != nil {
		return Services{}, fmt.Errorf("kafka container brokers: %w", err)
	}
	rc, err := tcredis.Run(ctx, RedisImage, tcredis.WithSnapshotting(10, 1))
	if err != nil {
		return Services{}, fmt.Errorf("start redis container: %w", err)
	}
	host, err := rc.Host(ctx)
	if err != nil {
		return Services{}, fmt.Errorf("redis container host: %w", err)
	}
	port, err := rc.MappedPort(ctx, "6379/tcp")
	if err != nil {
		return Services{}, fmt.Errorf("redis container port: %w", err)
	}
	s := Services{Brokers: brokers, RedisAddr: net.JoinHostPort(host, port.Port())}
	return s, ping(s)
}

// UniqueName returns base plus a random suffix, safe as a Kafka topic name or
// a Redis key prefix, so tests that share a broker never see each other's data.
func UniqueName(base string) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return base + "-" + hex.EncodeToString(b[:])
}

// Topic creates a fresh topic with the given partitions and deletes it when
// the test ends.
func (s Services) Topic(t testing.TB, base string, partitions int) string {
	t.Helper()
	name := UniqueName(base)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := CreateTopic(ctx, s.Brokers, name, partitions); err != nil {
		t.Fatalf("create topic %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c := &kafka.Client{Addr: kafka.TCP(s.Brokers...)}
		if _, err := c.DeleteTopics(ctx, &kafka.DeleteTopicsRequest{Topics: []string{name}}); err != nil {
			t.Logf("delete topic %s: %v", name, err)
		}
	})
	return name
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

// Redis returns a client and a key prefix unique to the test; every key under
// the prefix is deleted and the client closed when the test ends.
func (s Services) Redis(t testing.TB) (*redis.Client, string) {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: s.RedisAddr})
	prefix := UniqueName("t")
	t.Cleanup(func() {
		defer rdb.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		iter := rdb.Scan(ctx, 0, prefix+"*", 1000).Iterator()
		var keys []string
		for iter.Next(ctx) {
			keys = append(keys, iter.Val())
		}
		if len(keys) > 0 {
			rdb.Del(ctx, keys...)
		}
	})
	return rdb, prefix
}

// BrokerList returns the brokers as one comma-separated string, as the
// services' configuration takes them.
func (s Services) BrokerList() string { return strings.Join(s.Brokers, ",") }

// Port returns a free TCP port on loopback for a test server.
func Port(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("free port: %v", err)
	}
	defer l.Close()
	p, _ := strconv.Atoi(strings.TrimPrefix(l.Addr().String(), "127.0.0.1:"))
	return p
}
