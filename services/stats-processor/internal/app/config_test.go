package app_test

import (
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/vehicle-stats/vehicle-stats/internal/config"
	"github.com/vehicle-stats/vehicle-stats/internal/config/configtest"
	"github.com/vehicle-stats/vehicle-stats/internal/testenv"
	"github.com/vehicle-stats/vehicle-stats/services/stats-processor/internal/app"
)

// TestDefaults: the built-in defaults and configs/stats-processor.yaml
// agree, and are the contract's.
func TestDefaults(t *testing.T) {
	file := filepath.Join(testenv.RepoRoot(t), "configs", "stats-processor.yaml")
	configtest.Defaults(t, app.DefaultConfig(), file, func(args []string) (app.Config, error) { return app.Load(args, nil, nil) })
	cfg := app.DefaultConfig()
	// The contract's defaults.
	k, kc := cfg.Kafka.Topics, cfg.Kafka.Consumer
	if k.Brokers[0] != "localhost:9092" || k.InputTopic != "vehicle-topic" || k.OutputTopic != "vehicle-statistics-topic" ||
		k.DeadLetterTopic != "vehicle-dead-letter-topic" || k.LateTopic != "" || kc.GroupID != "vehicle-statistics" ||
		kc.StartOffset != "latest" || cfg.Redis.Addr != "localhost:6379" || cfg.Redis.KeyPrefix != "vs" ||
		cfg.EventTime.Window.Size != 20*time.Second || cfg.EventTime.Watermark.MaxOutOfOrderness != 0 ||
		cfg.EventTime.Watermark.IdleTimeout != 30*time.Second || cfg.HTTP.Addr != ":9080" || cfg.State.Retention != 24*time.Hour {
		t.Errorf("defaults differ from the contract: %+v", cfg)
	}
}

func TestEnvironmentAndFlags(t *testing.T) {
	env := []string{
		"PROCESSOR_KAFKA_BROKERS=k1:9092, k2:9092",
		"PROCESSOR_KAFKA_INPUT_TOPIC=cams",
		"PROCESSOR_KAFKA_LATE_TOPIC=late",
		"PROCESSOR_KAFKA_START_OFFSET=earliest",
		"PROCESSOR_KAFKA_SESSION_TIMEOUT=6s",
		"PROCESSOR_REDIS_ADDR=r:6380",
		"PROCESSOR_REDIS_CLUSTER=true",
		"PROCESSOR_WINDOW_SIZE=1m",
		"PROCESSOR_WATERMARK_MAX_OUT_OF_ORDERNESS=3s",
		"PROCESSOR_CHECKPOINT_INTERVAL=200ms",
		"PROCESSOR_INSTANCE_ID=a",
		"OTHER_WINDOW_SIZE=9s", // not ours
	}
	cfg, err := app.Load([]string{"--watermark.idle_timeout=5s", "--kafka.input_topic=flag"}, env, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := app.DefaultConfig()
	want.Kafka.Topics.Brokers = []string{"k1:9092", "k2:9092"}
	want.Kafka.Topics.InputTopic = "flag" // the flag beats the environment
	want.Kafka.Topics.LateTopic = "late"
	want.Kafka.Consumer.StartOffset = "earliest"
	want.Kafka.Consumer.SessionTimeout = 6 * time.Second
	want.Redis.Addr = "r:6380"
	want.Redis.Cluster = true
	want.EventTime.Window.Size = time.Minute
	want.EventTime.Watermark.MaxOutOfOrderness = 3 * time.Second
	want.EventTime.Watermark.IdleTimeout = 5 * time.Second
	want.Checkpoint.Consumer.Interval = 200 * time.Millisecond
	want.InstanceID = "a"
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("got  %+v\nwant %+v", cfg, want)
	}
}

func TestBadValuesAreAllNamed(t *testing.T) {
	env := []string{
		"PROCESSOR_KAFKA_BROKERS=",
		"PROCESSOR_KAFKA_START_OFFSET=middle",
		"PROCESSOR_KAFKA_SESSION_TIMEOUT=1s",
		"PROCESSOR_KAFKA_SASL_MECHANISM=kerberos",
		"PROCESSOR_REDIS_KEY_PREFIX=a b",
		"PROCESSOR_WINDOW_SIZE=1500us",
		"PROCESSOR_WATERMARK_IDLE_TIMEOUT=0s",
		"PROCESSOR_CHECKPOINT_CLOSE_INTERVAL=1h",
		"PROCESSOR_STATE_RETENTION=1s",
		"PROCESSOR_HTTP_ADDR=nonsense",
		"PROCESSOR_LIVE_MAX_STREAMS=5",
		"PROCESSOR_LIVE_MAX_STREAMS_PER_CLIENT=6",
		"PROCESSOR_LIVE_MAX_STREAM_LIFETIME=1s",
		"PROCESSOR_LOG_LEVEL=loud",
	}
	_, err := app.Load(nil, env, nil)
	configtest.Names(t, err, "kafka.brokers", "kafka.start_offset", "kafka.session_timeout", "kafka.sasl.mechanism",
		"redis.key_prefix", "window.size", "watermark.idle_timeout", "checkpoint.close_interval", "state.retention",
		"http.addr", "live.max_streams_per_client", "live.max_stream_lifetime", "log.level")
	// An output topic equal to the input is named under the input's key;
	// a value that does not parse is named with its variable.
	_, err = app.Load(nil, []string{"PROCESSOR_KAFKA_OUTPUT_TOPIC=vehicle-topic", "PROCESSOR_KAFKA_FETCH_MAX_BYTES=lots"}, nil)
	configtest.Names(t, err, "kafka.input_topic", "kafka.fetch_max_bytes")
}

// Unsafe settings are not silent: SASL/PLAIN without TLS is refused unless
// opted into, kafka.brokers must be host:port, and the rest is logged at
// every start.
func TestUnsafeSettings(t *testing.T) {
	plain := []string{"PROCESSOR_KAFKA_SASL_MECHANISM=plain", "PROCESSOR_KAFKA_SASL_USERNAME=u", "PROCESSOR_KAFKA_SASL_PASSWORD=p"}
	_, err := app.Load(nil, plain, nil)
	configtest.Names(t, err, "kafka.sasl.mechanism")
	_, err = app.Load(nil, []string{"PROCESSOR_KAFKA_BROKERS=kafka, k2:9092"}, nil)
	configtest.Names(t, err, "kafka.brokers")

	environ := append(plain, "PROCESSOR_KAFKA_SASL_ALLOW_PLAINTEXT_PASSWORD=true", "PROCESSOR_KAFKA_TLS_INSECURE_SKIP_VERIFY=true",
		"PROCESSOR_WATERMARK_MAX_FUTUR=0s", "PROCESSOR_PORT=tcp://10.0.0.1:9080")
	cfg, err := app.Load(nil, environ, nil)
	if err != nil {
		t.Fatal(err)
	}
	configtest.Warns(t, func(log *slog.Logger) { app.Warn(log, cfg, environ) },
		[]string{"variable=PROCESSOR_WATERMARK_MAX_FUTUR", "nearest_key=watermark.max_future"},
		[]string{"variable=PROCESSOR_PORT"}, // Kubernetes' service link: a warning, not a refusal
		[]string{"key=kafka.tls.insecure_skip_verify"},
		[]string{"clear text", "key=kafka.sasl.allow_plaintext_password"})
	configtest.Warns(t, func(log *slog.Logger) { app.Warn(log, app.DefaultConfig(), []string{"PROCESSOR_LOG_LEVEL=debug"}) })
}

// The processor has no admin endpoints: the admin token and the body limit
// of the shared HTTP keys are refused wherever they are set, naming the key
// and saying why; they are not in --help.
func TestNoAdminKeys(t *testing.T) {
	yaml := filepath.Join(t.TempDir(), "p.yaml")
	if err := os.WriteFile(yaml, []byte("http:\n  max_body_bytes: 2048\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args, env []string
		key       string
	}{
		{env: []string{"PROCESSOR_HTTP_ADMIN_TOKEN=0123456789abcdef0123"}, key: "http.admin_token"},
		{env: []string{"PROCESSOR_HTTP_ADMIN_TOKEN_FILE=/run/secrets/token"}, key: "http.admin_token_file"},
		{args: []string{"--http.max_body_bytes=2048"}, key: "http.max_body_bytes"},
		{args: []string{"--config", yaml}, key: "http.max_body_bytes"},
	} {
		_, err := app.Load(tc.args, tc.env, nil)
		configtest.Names(t, err, tc.key)
		if err != nil && !strings.Contains(err.Error(), "the processor has no") {
			t.Errorf("%s: no reason given: %v", tc.key, err)
		}
	}
	var help strings.Builder
	if _, err := app.Load([]string{"--help"}, nil, &help); !errors.Is(err, config.ErrHelp) {
		t.Fatal(err)
	}
	if strings.Contains(help.String(), "admin_token") || strings.Contains(help.String(), "max_body_bytes") || strings.Contains(help.String(), "PUT /rate") {
		t.Errorf("--help offers keys the processor refuses:\n%s", help.String())
	}
}

// Every host:port key has its port checked: 99999 is no port.
func TestPortsInRange(t *testing.T) {
	_, err := app.Load([]string{"--http.addr=:99999", "--http.pprof", "--http.pprof_addr=127.0.0.1:70000"},
		[]string{"PROCESSOR_KAFKA_BROKERS=k:9092,k:0", "PROCESSOR_REDIS_ADDR=r:65536"}, nil)
	configtest.Names(t, err, "http.addr", "http.pprof_addr", "kafka.brokers", "redis.addr")
}
