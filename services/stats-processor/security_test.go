package main_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vehicle-stats/vehicle-stats/internal/testenv"
)

// TestE2EKafkaTLS runs the processor through each TLS listener of a private
// broker whose certificate is signed by a CA of the test's own: TLS
// verified against that CA, SCRAM-SHA-512 over TLS (the password from a
// file, as a mounted secret), and mutual TLS. Counts are exact in each, and
// no log line shows the password. Then a wrong CA, a host-name mismatch,
// wrong credentials and a missing client certificate each stop start-up at
// once with a message naming the key to fix.
func TestE2EKafkaTLS(t *testing.T) {
	env := testenv.Get(t)
	k := testenv.PrivateKafkaTLS(t)
	env.Brokers = []string{k.Addr} // the test itself uses the plaintext listener
	passwordFile := filepath.Join(t.TempDir(), "scram-password")
	if err := os.WriteFile(passwordFile, []byte(k.ScramPassword+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tlsOn := []string{"PROCESSOR_KAFKA_TLS_ENABLED=true", "PROCESSOR_KAFKA_TLS_CA_FILE=" + k.PKI.CAFile}
	scram := []string{"PROCESSOR_KAFKA_SASL_MECHANISM=scram-sha-512", "PROCESSOR_KAFKA_SASL_USERNAME=" + k.ScramUser}
	clientCert := []string{"PROCESSOR_KAFKA_TLS_CERT_FILE=" + k.Client.CertFile, "PROCESSOR_KAFKA_TLS_KEY_FILE=" + k.Client.KeyFile}
	join := func(lists ...[]string) []string {
		var out []string
		for _, l := range lists {
			out = append(out, l...)
		}
		return out
	}

	for i, tc := range []struct {
		name string
		env  []string
	}{
		{"tls", join([]string{"PROCESSOR_KAFKA_BROKERS=" + k.SSLAddr}, tlsOn)},
		{"scram-sha-512 over tls", join([]string{"PROCESSOR_KAFKA_BROKERS=" + k.SASLSSLAddr, "PROCESSOR_KAFKA_SASL_PASSWORD_FILE=" + passwordFile}, tlsOn, scram)},
		{"mutual tls", join([]string{"PROCESSOR_KAFKA_BROKERS=" + k.MTLSAddr}, tlsOn, clientCert)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newScenarioOn(t, env, 3)
			s.extraEnv = tc.env
			data := dataset(uint64(20+i), 3, 600, base(), s.ooo)
			want, _, _ := expected(data, s.window, s.ooo)
			for _, c := range interleave(data, 300) {
				s.produce(context.Background(), c)
			}
			p := s.start("tls-" + itoa(i))
			s.waitOutput(want)
			s.checkDeadLetters(data)
			s.checkStats(p.addr, want)
			p.stop(t)
			if log := p.tail(100000); strings.Contains(log, k.ScramPassword) {
				t.Errorf("the log shows the SCRAM password:\n%s", log)
			}
		})
	}

	wrongCA := testenv.NewPKI(t, "other-ca")
	for _, tc := range []struct {
		name, key string
		env       []string
	}{
		{"wrong CA", "kafka.tls.ca_file", []string{"PROCESSOR_KAFKA_BROKERS=" + k.SSLAddr, "PROCESSOR_KAFKA_TLS_ENABLED=true", "PROCESSOR_KAFKA_TLS_CA_FILE=" + wrongCA.CAFile}},
		{"host name mismatch", "kafka.brokers", join([]string{"PROCESSOR_KAFKA_BROKERS=localhost" + k.SSLAddr[strings.LastIndex(k.SSLAddr, ":"):]}, tlsOn)},
		{"wrong password", "kafka.sasl.password", join([]string{"PROCESSOR_KAFKA_BROKERS=" + k.SASLSSLAddr, "PROCESSOR_KAFKA_SASL_PASSWORD=wrong-" + k.ScramPassword}, tlsOn, scram)},
		{"no client certificate", "kafka.tls.cert_file", join([]string{"PROCESSOR_KAFKA_BROKERS=" + k.MTLSAddr}, tlsOn)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := startFails(t, append(tc.env, "PROCESSOR_REDIS_ADDR="+env.RedisAddr))
			if !strings.Contains(out, tc.key) {
				t.Errorf("start-up did not name %s:\n%s", tc.key, out)
			}
			if strings.Contains(out, k.ScramPassword) {
				t.Errorf("the output shows the password:\n%s", out)
			}
		})
	}
}

// startFails runs the processor with env, requires it to exit non-zero
// within 20 s (a refusal is not waited out), and returns its output.
func startFails(t *testing.T, env []string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, processorBinary(t), "--config", "/dev/null")
	cmd.Env = append(append(os.Environ(), "PROCESSOR_HTTP_ADDR=127.0.0.1:0", "PROCESSOR_LOG_FORMAT=text"), env...)
	start := time.Now()
	out, err := cmd.CombinedOutput()
	if err == nil || ctx.Err() != nil {
		t.Fatalf("start-up did not fail (exit %v after %s):\n%s", err, time.Since(start).Round(time.Millisecond), out)
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Errorf("the refusal took %s to stop start-up: it was retried", d.Round(time.Second))
	}
	return string(out)
}
