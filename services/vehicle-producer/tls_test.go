package main_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vehicle-stats/vehicle-stats/internal/testenv"
	"github.com/vehicle-stats/vehicle-stats/internal/testenv/private"
)

// TestIntegrationKafkaTLS sends through each TLS listener of a private
// broker whose certificate is signed by a CA of the test's own: TLS
// verified against that CA, SCRAM-SHA-512 over TLS (the password from a
// file, as a mounted secret) and mutual TLS. Exactly N records arrive each
// time and neither the log nor /status shows the password. Then a wrong
// CA, a host-name mismatch, wrong credentials and a missing client
// certificate each stop start-up at once (exit 1) naming the key to fix.
func TestIntegrationKafkaTLS(t *testing.T) {
	testenv.Get(t)
	k := private.StartKafkaTLS(t)
	passwordFile := filepath.Join(t.TempDir(), "scram-password")
	if err := os.WriteFile(passwordFile, []byte(k.ScramPassword+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tlsOn := map[string]string{"PRODUCER_KAFKA_TLS_ENABLED": "true", "PRODUCER_KAFKA_TLS_CA_FILE": k.PKI.CAFile}
	with := func(maps ...map[string]string) map[string]string {
		out := map[string]string{}
		for _, m := range maps {
			for key, v := range m {
				out[key] = v
			}
		}
		return out
	}
	scram := map[string]string{"PRODUCER_KAFKA_SASL_MECHANISM": "scram-sha-512", "PRODUCER_KAFKA_SASL_USERNAME": k.ScramUser}

	for i, tc := range []struct {
		name string
		env  map[string]string
	}{
		{"tls", with(tlsOn, map[string]string{"PRODUCER_KAFKA_BROKERS": k.SSLAddr})},
		{"scram-sha-512 over tls", with(tlsOn, scram, map[string]string{"PRODUCER_KAFKA_BROKERS": k.SASLSSLAddr, "PRODUCER_KAFKA_SASL_PASSWORD_FILE": passwordFile})},
		{"mutual tls", with(tlsOn, map[string]string{"PRODUCER_KAFKA_BROKERS": k.MTLSAddr,
			"PRODUCER_KAFKA_TLS_CERT_FILE": k.Client.CertFile, "PRODUCER_KAFKA_TLS_KEY_FILE": k.Client.KeyFile})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, seed := 400, uint64(90+i)
			topic := testenv.UniqueName("producer-tls")
			p := start(t, with(tc.env, map[string]string{
				"PRODUCER_KAFKA_TOPIC": topic,
				"PRODUCER_COUNT":       fmt.Sprint(n),
				"PRODUCER_RATE":        "0",
				"PRODUCER_SEED":        fmt.Sprint(seed),
			}))
			if code := p.wait(t, 90*time.Second); code != 0 {
				t.Fatalf("exit code %d\n%s", code, p.logText())
			}
			msgs := readAll(t, []string{k.Addr}, topic) // read back on the plaintext listener
			if len(msgs) != n {
				t.Fatalf("%d records in the topic, want exactly %d", len(msgs), n)
			}
			seen := decodeAll(t, msgs)
			for j, s := range expectedStickers(t, seed, n) {
				if seen[s] != 1 {
					t.Fatalf("event %d (sticker %s) is in the topic %d times", j+1, s, seen[s])
				}
			}
			if strings.Contains(p.logText(), k.ScramPassword) {
				t.Errorf("the log shows the password:\n%s", p.logText())
			}
		})
	}

	wrongCA := private.NewPKI(t, "other-ca")
	_, sslPort, _ := strings.Cut(k.SSLAddr, ":")
	for _, tc := range []struct {
		name, key string
		env       map[string]string
	}{
		{"wrong CA", "kafka.tls.ca_file", map[string]string{"PRODUCER_KAFKA_BROKERS": k.SSLAddr, "PRODUCER_KAFKA_TLS_ENABLED": "true", "PRODUCER_KAFKA_TLS_CA_FILE": wrongCA.CAFile}},
		{"host name mismatch", "kafka.brokers", with(tlsOn, map[string]string{"PRODUCER_KAFKA_BROKERS": "localhost:" + sslPort})},
		{"wrong password", "kafka.sasl.password", with(tlsOn, scram, map[string]string{"PRODUCER_KAFKA_BROKERS": k.SASLSSLAddr, "PRODUCER_KAFKA_SASL_PASSWORD": "wrong-" + k.ScramPassword})},
		{"no client certificate", "kafka.tls.cert_file", with(tlsOn, map[string]string{"PRODUCER_KAFKA_BROKERS": k.MTLSAddr})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			begin := time.Now()
			p := start(t, with(tc.env, map[string]string{"PRODUCER_KAFKA_TOPIC": testenv.UniqueName("producer-refused"), "PRODUCER_COUNT": "1"}))
			if code := p.wait(t, 60*time.Second); code != 1 {
				t.Fatalf("exit code %d, want 1\n%s", code, p.logText())
			}
			// The default kafka.startup_timeout is 30 s: a refusal must not wait it out.
			if d := time.Since(begin); d > 20*time.Second {
				t.Errorf("the refusal took %s to stop start-up: it was retried", d.Round(time.Second))
			}
			failed := p.logLine(t, "start-up failed")
			if msg := fmt.Sprint(failed["error"]); !strings.Contains(msg, tc.key) {
				t.Errorf("start-up failure does not name %s: %s", tc.key, msg)
			} else {
				t.Logf("%s", msg)
			}
			if strings.Contains(p.logText(), k.ScramPassword) {
				t.Errorf("the log shows the password:\n%s", p.logText())
			}
		})
	}
}
