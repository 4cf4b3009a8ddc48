package testenv

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
	"github.com/redis/go-redis/v9"
	"github.com/segmentio/kafka-go"
	"github.com/testcontainers/testcontainers-go"
	tcredis "github.com/testcontainers/testcontainers-go/modules/redis"
	tcnetwork "github.com/testcontainers/testcontainers-go/network"
	"github.com/testcontainers/testcontainers-go/wait"
	"github.com/vehicle-stats/vehicle-stats/internal/testenv/proc"
	"github.com/vehicle-stats/vehicle-stats/internal/testenv/scratch"
)

// Environment variables that point tests at running services.
const (
	EnvKafkaBrokers = "VS_KAFKA_BROKERS"
	EnvRedisAddr    = "VS_REDIS_ADDR"
)

// Images used when testcontainers starts the services: the ones
// docker-compose.yml runs (a test in deploy/compose keeps them equal), so
// `make test-docker` provides them, pulled or stood in for, for both.
const (
	KafkaImage = "apache/kafka:4.4.0"
	RedisImage = "redis:7.4-alpine"
)

// ContainerLabel marks every container and network testenv starts. Without
// testcontainers' reaper (TESTCONTAINERS_RYUK_DISABLED=true, where its image
// cannot be pulled) they outlive the test binary; `make test-docker` removes
// them by this label.
const ContainerLabel = "vehicle-stats.testenv"

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
	// source says where services came from, for the log of every test.
	source string
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
	t.Logf("integration services: %s", source)
	return services
}

var errNotAvailable = fmt.Errorf("no services")

func find() (Services, error) {
	brokers, addr := os.Getenv(EnvKafkaBrokers), os.Getenv(EnvRedisAddr)
	if brokers != "" && addr != "" {
		s := Services{Brokers: strings.Split(brokers, ","), RedisAddr: addr}
		source = fmt.Sprintf("from %s and %s (Kafka %s, Redis %s)", EnvKafkaBrokers, EnvRedisAddr, brokers, addr)
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

// startContainers starts Kafka and Redis through testcontainers, on a
// network of their own, each publishing its port on 127.0.0.1 only.
func startContainers() (Services, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	// Ports are published on 127.0.0.1 only, so that is where the host
	// reaches them, whatever testcontainers would guess (in some sandboxes
	// it guesses the default gateway).
	if os.Getenv("TESTCONTAINERS_HOST_OVERRIDE") == "" {
		_ = os.Setenv("TESTCONTAINERS_HOST_OVERRIDE", "127.0.0.1")
	}
	labels := map[string]string{ContainerLabel: "true"}
	nw, err := tcnetwork.New(ctx, tcnetwork.WithLabels(labels))
	if err != nil {
		return Services{}, fmt.Errorf("create a docker network: %w", err)
	}
	brokers, err := startKafka(ctx, nw, labels)
	if err != nil {
		return Services{}, err
	}
	rc, err := tcredis.Run(ctx, RedisImage, tcredis.WithSnapshotting(10, 1),
		testcontainers.WithLabels(labels), tcnetwork.WithNetwork([]string{"redis"}, nw),
		testcontainers.WithHostConfigModifier(bindLoopback("6379/tcp", "")),
		// The module allows 10 s for the port; a loaded machine needs more.
		testcontainers.WithWaitStrategyAndDeadline(2*time.Minute,
			wait.ForListeningPort("6379/tcp"), wait.ForLog("* Ready to accept connections")))
	if err != nil {
		return Services{}, fmt.Errorf("start redis container (%s): %w", RedisImage, err)
	}
	port, err := rc.MappedPort(ctx, "6379/tcp")
	if err != nil {
		return Services{}, fmt.Errorf("redis container port: %w", err)
	}
	s := Services{Brokers: brokers, RedisAddr: net.JoinHostPort("127.0.0.1", port.Port())}
	source = fmt.Sprintf("testcontainers (Kafka %s at %s, Redis %s at %s, network %s)",
		KafkaImage, s.BrokerList(), RedisImage, s.RedisAddr, nw.Name)
	return s, ping(s)
}

// startKafka runs KafkaImage as one KRaft node. A broker hands its clients
// the address it advertises, so that must be the address the host reaches
// it at: a free port is chosen first and published as itself, and the
// broker listens and advertises on it (127.0.0.1:port inside the container
// reaches the broker too, so it is also the inter-broker listener).
func startKafka(ctx context.Context, nw *testcontainers.DockerNetwork, labels map[string]string) ([]string, error) {
	p, err := scratch.FreePort()
	if err != nil {
		return nil, fmt.Errorf("free port for kafka: %w", err)
	}
	port := strconv.Itoa(p)
	_, err = testcontainers.Run(ctx, KafkaImage,
		testcontainers.WithEnv(map[string]string{
			"CLUSTER_ID":                                     "dmVoaWNsZS1zdGF0cy10Yw",
			"KAFKA_NODE_ID":                                  "1",
			"KAFKA_PROCESS_ROLES":                            "broker,controller",
			"KAFKA_CONTROLLER_QUORUM_VOTERS":                 "1@localhost:9093",
			"KAFKA_CONTROLLER_LISTENER_NAMES":                "CONTROLLER",
			"KAFKA_LISTENERS":                                "HOST://0.0.0.0:" + port + ",CONTROLLER://0.0.0.0:9093",
			"KAFKA_ADVERTISED_LISTENERS":                     "HOST://127.0.0.1:" + port,
			"KAFKA_LISTENER_SECURITY_PROTOCOL_MAP":           "HOST:PLAINTEXT,CONTROLLER:PLAINTEXT",
			"KAFKA_INTER_BROKER_LISTENER_NAME":               "HOST",
			"KAFKA_AUTO_CREATE_TOPICS_ENABLE":                "false",
			"KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR":         "1",
			"KAFKA_OFFSETS_TOPIC_NUM_PARTITIONS":             "8",
			"KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR": "1",
			"KAFKA_TRANSACTION_STATE_LOG_MIN_ISR":            "1",
			"KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS":         "0",
			"KAFKA_HEAP_OPTS":                                "-Xms256m -Xmx768m",
		}),
		testcontainers.WithExposedPorts(port+"/tcp"),
		testcontainers.WithHostConfigModifier(bindLoopback(port+"/tcp", port)),
		testcontainers.WithLabels(labels),
		tcnetwork.WithNetwork([]string{"kafka"}, nw),
		testcontainers.WithWaitStrategy(wait.ForLog("Kafka Server started").WithStartupTimeout(4*time.Minute)),
	)
	if err != nil {
		return nil, fmt.Errorf("start kafka container (%s): %w", KafkaImage, err)
	}
	return []string{"127.0.0.1:" + port}, nil
}

// bindLoopback publishes a container port on 127.0.0.1 only, on hostPort
// ("" = any free one): testcontainers would publish on every interface.
func bindLoopback(containerPort, hostPort string) func(*container.HostConfig) {
	return func(hc *container.HostConfig) {
		if hc.PortBindings == nil {
			hc.PortBindings = network.PortMap{}
		}
		hc.PortBindings[network.MustParsePort(containerPort)] = []network.PortBinding{{
			HostIP: netip.AddrFrom4([4]byte{127, 0, 0, 1}), HostPort: hostPort,
		}}
	}
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
		if err := DeleteTopics(ctx, s.Brokers, name); err != nil {
			t.Log(err)
		}
	})
	return name
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
		if err := DeleteKeys(ctx, rdb, prefix+"*"); err != nil {
			t.Log(err)
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
	p, err := scratch.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// UniqueName is scratch.UniqueName, for tests.
func UniqueName(base string) string { return scratch.UniqueName(base) }

// CreateTopic is scratch.CreateTopic, for tests.
func CreateTopic(ctx context.Context, brokers []string, name string, partitions int) error {
	return scratch.CreateTopic(ctx, brokers, name, partitions)
}

// DeleteTopics is scratch.DeleteTopics, for tests.
func DeleteTopics(ctx context.Context, brokers []string, topics ...string) error {
	return scratch.DeleteTopics(ctx, brokers, topics...)
}

// RecreateTopic deletes topic and creates it again, empty, with the given
// partitions: a test's "topic deleted and created again". The creation is
// retried while the broker still deletes the old one.
func (s Services) RecreateTopic(t testing.TB, topic string, partitions int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := DeleteTopics(ctx, s.Brokers, topic); err != nil {
		t.Fatal(err)
	}
	for {
		err := CreateTopic(ctx, s.Brokers, topic, partitions)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("create %s again: %v", topic, err)
		}
		time.Sleep(200 * time.Millisecond) // the deletion is still under way
	}
	t.Logf("%s deleted and created again", topic)
}

// DeleteKeys is scratch.DeleteKeys, for tests.
func DeleteKeys(ctx context.Context, rdb *redis.Client, match string) error {
	return scratch.DeleteKeys(ctx, rdb, match)
}

// FreePort is scratch.FreePort, for tests.
func FreePort() (int, error) { return scratch.FreePort() }

// E2EProcessor is the setting the end-to-end tests share for a pipeline
// on s: its own topics, group and key prefix, read from the start, 20 s
// windows with 3 s of out-of-orderness, a 5 s idle timeout, checkpoints
// every 200 ms and the shortest session the broker allows, so that a killed
// instance's partitions move within seconds. Topics and key prefix are
// created for the test and removed after it (a comma in s.RedisAddr, a
// private Redis Cluster, gets an unshared prefix that goes with it).
func (s Services) E2EProcessor(t testing.TB, name string, partitions int) proc.ProcessorConfig {
	t.Helper()
	prefix := UniqueName("t")
	if !strings.Contains(s.RedisAddr, ",") {
		_, prefix = s.Redis(t)
	}
	return proc.ProcessorConfig{
		Brokers: s.Brokers, RedisAddr: s.RedisAddr, KeyPrefix: prefix,
		Input:      s.Topic(t, name+"-in", partitions),
		Output:     s.Topic(t, name+"-out", 1),
		DeadLetter: s.Topic(t, name+"-dead", 1),
		Late:       s.Topic(t, name+"-late", 1),
		Group:      UniqueName(name + "-group"),
		Earliest:   true, Window: 20 * time.Second, MaxOutOfOrderness: 3 * time.Second, IdleTimeout: 5 * time.Second,
		CheckpointInterval: 200 * time.Millisecond, SessionTimeout: 6 * time.Second,
	}
}

// RepoRoot is proc.RepoRoot, for tests.
func RepoRoot(t testing.TB) string { t.Helper(); return proc.RepoRoot(t) }

// Binary is proc.Binary, for tests.
func Binary(t testing.TB, path string, race bool) string {
	t.Helper()
	return proc.Binary(t, path, race)
}

// FreePorts is scratch.FreePorts, for tests.
func FreePorts(n int) (int, error) { return scratch.FreePorts(n) }
