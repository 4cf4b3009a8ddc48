package proc_test

import (
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/vehicle-stats/vehicle-stats/internal/testenv/proc"
)

// TestToolsDoNotLinkDocker: the benchmark tools and the soak start the
// services through proc and scratch, which need no Docker client; only
// tests that fall back to testcontainers (testenv.Get) link it.
func TestToolsDoNotLinkDocker(t *testing.T) {
	cmd := exec.Command("go", "list", "-deps", "./bench/...")
	cmd.Dir = proc.RepoRoot(t)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps ./bench/...: %v\n%s", err, out)
	}
	for line := range strings.Lines(string(out)) {
		if strings.Contains(line, "testcontainers") {
			t.Errorf("a tool under bench/ links %s", strings.TrimSpace(line))
		}
	}
}

func TestProducerConfigEnv(t *testing.T) {
	got := proc.ProducerConfig{Brokers: []string{"a:1", "b:2"}, Topic: "in", Unpaced: true, Seed: 7, Extra: []string{"PRODUCER_LOG_LEVEL=warn"}}.Env()
	want := []string{"PRODUCER_KAFKA_BROKERS=a:1,b:2", "PRODUCER_KAFKA_TOPIC=in", "PRODUCER_RATE=0", "PRODUCER_SEED=7", "PRODUCER_LOG_LEVEL=warn"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("Env() = %v, want %v", got, want)
	}
}

// TestProducerConfigEnvSettings: the settings the producer's tests give
// (TLS, SASL, start-up, the admin token, HTTP timeouts) become its
// variables, and a zero one none.
func TestProducerConfigEnvSettings(t *testing.T) {
	got := proc.ProducerConfig{
		StartupTimeout: 2 * time.Minute,
		TLS:            proc.KafkaTLS{Enabled: true, CAFile: "ca.pem", CertFile: "c.pem", KeyFile: "k.pem"},
		SASL:           proc.KafkaSASL{Mechanism: "plain", Username: "u", Password: "p", PasswordFile: "pf", AllowPlaintextPassword: true},
		AdminTokenFile: "token", HTTPReadTimeout: 5 * time.Second, HTTPReadHeaderTimeout: 2 * time.Second, HTTPWriteTimeout: 5 * time.Second,
	}.Env()
	want := []string{"PRODUCER_KAFKA_STARTUP_TIMEOUT=2m0s",
		"PRODUCER_KAFKA_TLS_ENABLED=true", "PRODUCER_KAFKA_TLS_CA_FILE=ca.pem", "PRODUCER_KAFKA_TLS_CERT_FILE=c.pem", "PRODUCER_KAFKA_TLS_KEY_FILE=k.pem",
		"PRODUCER_KAFKA_SASL_MECHANISM=plain", "PRODUCER_KAFKA_SASL_USERNAME=u", "PRODUCER_KAFKA_SASL_PASSWORD=p",
		"PRODUCER_KAFKA_SASL_PASSWORD_FILE=pf", "PRODUCER_KAFKA_SASL_ALLOW_PLAINTEXT_PASSWORD=true",
		"PRODUCER_HTTP_ADMIN_TOKEN_FILE=token", "PRODUCER_HTTP_READ_TIMEOUT=5s", "PRODUCER_HTTP_READ_HEADER_TIMEOUT=2s", "PRODUCER_HTTP_WRITE_TIMEOUT=5s"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("Env() = %v\nwant    %v", got, want)
	}
	if env := (proc.ProducerConfig{}).Env(); len(env) != 0 {
		t.Errorf("a zero ProducerConfig sets %v", env)
	}
}
