package app_test

import (
	"encoding/json"
	"log/slog"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/vehicle-stats/vehicle-stats/internal/config/configtest"
	"github.com/vehicle-stats/vehicle-stats/internal/testenv"
	"github.com/vehicle-stats/vehicle-stats/services/vehicle-producer/internal/app"
)

// TestDefaults: the built-in defaults and configs/vehicle-producer.yaml
// agree, and are the contract's.
func TestDefaults(t *testing.T) {
	file := filepath.Join(testenv.RepoRoot(t), "configs", "vehicle-producer.yaml")
	configtest.Defaults(t, app.DefaultConfig(), file, func(args []string) (app.Config, error) { return app.Load(args, nil, nil) })
	cfg := app.DefaultConfig()
	// The contract's defaults.
	if cfg.Kafka.Brokers[0] != "localhost:9092" || cfg.Kafka.Topic != "vehicle-topic" || cfg.Rate != 0.5 ||
		cfg.Count != 0 || cfg.Seed != 0 || cfg.HTTP.Addr != ":9090" {
		t.Errorf("defaults differ from the contract: %+v", cfg)
	}
}

func TestEnvironmentAndFlags(t *testing.T) {
	env := []string{
		"PRODUCER_KAFKA_BROKERS=k1:9092, k2:9092",
		"PRODUCER_KAFKA_TOPIC=cams",
		"PRODUCER_RATE=2.5",
		"PRODUCER_COUNT=1000",
		"PRODUCER_SEED=42",
		"PRODUCER_KAFKA_COMPRESSION=lz4",
		"PRODUCER_KAFKA_BATCH_TIMEOUT=10ms",
		"PRODUCER_GENERATOR_WEIGHTS_BUS=0.3",
		"PRODUCER_GENERATOR_JITTER=3s",
		"PRODUCER_HTTP_ADDR=127.0.0.1:9999",
		"OTHER_RATE=9", // not ours
	}
	cfg, err := app.Load([]string{"--rate=7", "--generator.late_fraction=0.01"}, env, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := app.DefaultConfig()
	want.Kafka.Brokers = []string{"k1:9092", "k2:9092"}
	want.Kafka.Topic = "cams"
	want.Rate = 7 // the flag beats the environment
	want.Count = 1000
	want.Seed = 42
	want.Kafka.Compression = "lz4"
	want.Kafka.BatchTimeout = 10 * time.Millisecond
	want.Generator.Weights.Bus = 0.3
	want.Generator.Jitter = 3 * time.Second
	want.Generator.LateFraction = 0.01
	want.HTTP.Addr = "127.0.0.1:9999"
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("got  %+v\nwant %+v", cfg, want)
	}
}

func TestBadValuesAreAllNamed(t *testing.T) {
	env := []string{
		"PRODUCER_RATE=-1",
		"PRODUCER_COUNT=-5",
		"PRODUCER_KAFKA_COMPRESSION=brotli",
		"PRODUCER_KAFKA_PARTITIONS=0",
		"PRODUCER_KAFKA_TOPIC=no spaces",
		"PRODUCER_GENERATOR_WEIGHTS_TRUCK=-0.1",
		"PRODUCER_GENERATOR_LATE_FRACTION=2",
		"PRODUCER_HTTP_ADDR=nonsense",
		"PRODUCER_LOG_LEVEL=loud",
	}
	_, err := app.Load(nil, env, nil)
	configtest.Names(t, err, "rate", "count", "kafka.compression", "kafka.partitions", "kafka.topic",
		"generator.weights.truck", "generator.late_fraction", "http.addr", "log.level")
	// Values that do not parse are named with their variable too.
	_, err = app.Load(nil, []string{"PRODUCER_RATE=fast", "PRODUCER_KAFKA_BATCH_TIMEOUT=5"}, nil)
	configtest.Names(t, err, "rate", "kafka.batch_timeout")
	// All weights zero is one problem of the whole mix.
	zero := []string{"PRODUCER_GENERATOR_WEIGHTS_CAR=0", "PRODUCER_GENERATOR_WEIGHTS_TRUCK=0", "PRODUCER_GENERATOR_WEIGHTS_VAN=0",
		"PRODUCER_GENERATOR_WEIGHTS_BUS=0", "PRODUCER_GENERATOR_WEIGHTS_MOTORCYCLE=0"}
	if _, err := app.Load(nil, zero, nil); err == nil || !strings.Contains(err.Error(), "generator.weights (") {
		t.Errorf("all-zero weights: %v", err)
	}
}

func TestPublicJSON(t *testing.T) {
	raw, err := app.DefaultConfig().PublicJSON()
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		Kafka struct {
			Brokers      []string `json:"brokers"`
			BatchTimeout string   `json:"batch_timeout"`
		} `json:"kafka"`
		Rate      float64 `json:"rate"`
		Generator struct {
			Weights map[string]float64 `json:"weights"`
		} `json:"generator"`
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("%s: %v", raw, err)
	}
	if v.Kafka.BatchTimeout != "5ms" || v.Rate != 0.5 || v.Generator.Weights["truck"] != 0.11 || v.Kafka.Brokers[0] != "localhost:9092" {
		t.Errorf("PublicJSON = %s", raw)
	}
}

// Unsafe settings are not silent: SASL/PLAIN without TLS is refused unless
// opted into, and the rest is logged at every start, PUT /rate open to the
// network among it.
func TestUnsafeSettings(t *testing.T) {
	plain := []string{"PRODUCER_KAFKA_SASL_MECHANISM=plain", "PRODUCER_KAFKA_SASL_USERNAME=u", "PRODUCER_KAFKA_SASL_PASSWORD=p"}
	_, err := app.Load(nil, plain, nil)
	configtest.Names(t, err, "kafka.sasl.mechanism")

	environ := append(plain, "PRODUCER_KAFKA_SASL_ALLOW_PLAINTEXT_PASSWORD=true", "PRODUCER_KAFKA_TLS_INSECURE_SKIP_VERIFY=true",
		"PRODUCER_RATES=5")
	cfg, err := app.Load(nil, environ, nil)
	if err != nil {
		t.Fatal(err)
	}
	configtest.Warns(t, func(log *slog.Logger) { app.Warn(log, cfg, environ) },
		[]string{"variable=PRODUCER_RATES", "nearest_key=rate"},
		[]string{"key=kafka.tls.insecure_skip_verify"},
		[]string{"clear text", "key=kafka.sasl.allow_plaintext_password"},
		[]string{"PUT /rate", "key=http.admin_token", "addr=:9090"}) // the default listens on every interface
	for _, addr := range []string{"127.0.0.1:9090", "localhost:9090", "[::1]:9090"} {
		configtest.Warns(t, func(log *slog.Logger) {
			c := app.DefaultConfig()
			c.HTTP.Addr = addr
			app.Warn(log, c, nil)
		})
	}
	configtest.Warns(t, func(log *slog.Logger) {
		c := app.DefaultConfig()
		c.HTTP.AdminToken = "0123456789abcdef0123"
		app.Warn(log, c, nil)
	})
}
