package proc

import (
	"context"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// ProducerConfig is how a test or a tool runs the vehicle-producer: where
// it writes and the settings tests change. A zero field leaves the
// producer's default (or the YAML file's, with ConfigFile).
type ProducerConfig struct {
	Brokers []string
	Topic   string
	// Compression is the Kafka compression codec (none, gzip, snappy, lz4,
	// zstd).
	Compression string
	// Rate is events per second; Unpaced sends as fast as possible
	// (rate 0, which a zero Rate cannot say).
	Rate    float64
	Unpaced bool
	// Count is how many events to send before exiting.
	Count int64
	// Seed fixes the event sequence.
	Seed         uint64
	Jitter       time.Duration
	LateFraction float64
	LateDelay    time.Duration
	// RetryBackoffMax caps the wait between retries of a failed write.
	RetryBackoffMax time.Duration
	// StartupTimeout is how long start-up waits for Kafka.
	StartupTimeout time.Duration
	// TLS and SASL are the kafka.tls and kafka.sasl settings.
	TLS  KafkaTLS
	SASL KafkaSASL

	HTTPAddr string
	// AdminTokenFile holds the token PUT /rate requires.
	AdminTokenFile string
	// The HTTP server's timeouts.
	HTTPReadTimeout, HTTPReadHeaderTimeout, HTTPWriteTimeout time.Duration

	// ConfigFile is the YAML file to read; none (/dev/null) when empty.
	ConfigFile string
	// Extra are more PRODUCER_* settings, applied last.
	Extra []string
}

// KafkaTLS is a service's kafka.tls settings.
type KafkaTLS struct {
	Enabled bool
	// CAFile verifies the brokers; CertFile and KeyFile are the client's
	// certificate, for mutual TLS.
	CAFile, CertFile, KeyFile string
}

// KafkaSASL is a service's kafka.sasl settings.
type KafkaSASL struct {
	// Mechanism is plain, scram-sha-256 or scram-sha-512.
	Mechanism, Username string
	// Password, or PasswordFile that holds it.
	Password, PasswordFile string
	// AllowPlaintextPassword lets plain go without TLS.
	AllowPlaintextPassword bool
}

// Env is the configuration as the producer's environment variables.
func (c ProducerConfig) Env() []string {
	var env []string
	set := func(key, value string) {
		if value != "" && value != "0" && value != "0s" {
			env = append(env, "PRODUCER_"+key+"="+value)
		}
	}
	flag := func(key string, on bool) {
		if on {
			env = append(env, "PRODUCER_"+key+"=true")
		}
	}
	float := func(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }
	set("KAFKA_BROKERS", strings.Join(c.Brokers, ","))
	set("KAFKA_TOPIC", c.Topic)
	set("KAFKA_COMPRESSION", c.Compression)
	set("KAFKA_RETRY_BACKOFF_MAX", c.RetryBackoffMax.String())
	set("KAFKA_STARTUP_TIMEOUT", c.StartupTimeout.String())
	flag("KAFKA_TLS_ENABLED", c.TLS.Enabled)
	set("KAFKA_TLS_CA_FILE", c.TLS.CAFile)
	set("KAFKA_TLS_CERT_FILE", c.TLS.CertFile)
	set("KAFKA_TLS_KEY_FILE", c.TLS.KeyFile)
	set("KAFKA_SASL_MECHANISM", c.SASL.Mechanism)
	set("KAFKA_SASL_USERNAME", c.SASL.Username)
	set("KAFKA_SASL_PASSWORD", c.SASL.Password)
	set("KAFKA_SASL_PASSWORD_FILE", c.SASL.PasswordFile)
	flag("KAFKA_SASL_ALLOW_PLAINTEXT_PASSWORD", c.SASL.AllowPlaintextPassword)
	if c.Unpaced {
		env = append(env, "PRODUCER_RATE=0")
	} else {
		set("RATE", float(c.Rate))
	}
	set("COUNT", strconv.FormatInt(c.Count, 10))
	set("SEED", strconv.FormatUint(c.Seed, 10))
	set("GENERATOR_JITTER", c.Jitter.String())
	set("GENERATOR_LATE_FRACTION", float(c.LateFraction))
	set("GENERATOR_LATE_DELAY", c.LateDelay.String())
	set("HTTP_ADDR", c.HTTPAddr)
	set("HTTP_ADMIN_TOKEN_FILE", c.AdminTokenFile)
	set("HTTP_READ_TIMEOUT", c.HTTPReadTimeout.String())
	set("HTTP_READ_HEADER_TIMEOUT", c.HTTPReadHeaderTimeout.String())
	set("HTTP_WRITE_TIMEOUT", c.HTTPWriteTimeout.String())
	return append(env, c.Extra...)
}

func (c ProducerConfig) args() []string {
	if c.ConfigFile == "" {
		return []string{"--config", "/dev/null"}
	}
	return []string{"--config", c.ConfigFile}
}

// ExecProducer starts the vehicle-producer binary bin as cfg says, its
// output going to logPath (a new temporary file when empty), and returns
// without waiting for it: for a producer that runs a count and exits, or
// meets a Kafka that is down. An empty cfg.HTTPAddr gets a free port.
func ExecProducer(bin, logPath string, cfg ProducerConfig) (*Service, error) {
	return execService("vehicle-producer", bin, logPath, cfg.args(), cfg.HTTPAddr, func(addr string) []string {
		cfg.HTTPAddr = addr
		return cfg.Env()
	})
}

// LaunchProducer starts the producer as ExecProducer does and waits until
// its /readyz answers 200, as LaunchProcessor does.
func LaunchProducer(ctx context.Context, bin, logPath string, cfg ProducerConfig) (*Service, error) {
	s, err := ExecProducer(bin, logPath, cfg)
	if err != nil {
		return nil, err
	}
	return s, s.AwaitReady(ctx)
}

// ExecProducerT builds vehicle-producer (statically, as released) and starts
// it as ExecProducer does, logging into the test's temporary folder; it
// does not wait for readiness. The process is killed when the test ends,
// and its log's tail logged if the test failed.
func ExecProducerT(t testing.TB, cfg ProducerConfig) *Service {
	t.Helper()
	bin := Binary(t, "./services/vehicle-producer", false)
	s, err := ExecProducer(bin, filepath.Join(t.TempDir(), "vehicle-producer.log"), cfg)
	if err != nil {
		t.Fatal(err)
	}
	cleanUp(t, s)
	return s
}

// StartProducer is ExecProducerT that returns once /readyz answers 200, or
// fails the test with the log's tail.
func StartProducer(t testing.TB, cfg ProducerConfig) *Service {
	t.Helper()
	s := ExecProducerT(t, cfg)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	if err := s.AwaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	return s
}
