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
	"github.com/vehicle-stats/vehicle-stats/internal/testenv/proc"
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
	tlsOn := proc.KafkaTLS{Enabled: true, CAFile: k.PKI.CAFile}
	scram := proc.KafkaSASL{Mechanism: "scram-sha-512", Username: k.ScramUser}
	withPasswordFile, withWrongPassword := scram, scram
	withPasswordFile.PasswordFile = passwordFile
	withWrongPassword.Password = "wrong-" + k.ScramPassword
	mutual := tlsOn
	mutual.CertFile, mutual.KeyFile = k.Client.CertFile, k.Client.KeyFile

	for i, tc := range []struct {
		name string
		cfg  proc.ProducerConfig
	}{
		{"tls", proc.ProducerConfig{Brokers: []string{k.SSLAddr}, TLS: tlsOn}},
		{"scram-sha-512 over tls", proc.ProducerConfig{Brokers: []string{k.SASLSSLAddr}, TLS: tlsOn, SASL: withPasswordFile}},
		{"mutual tls", proc.ProducerConfig{Brokers: []string{k.MTLSAddr}, TLS: mutual}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, seed := 400, uint64(90+i)
			topic := testenv.UniqueName("producer-tls")
			cfg := tc.cfg
			cfg.Topic, cfg.Count, cfg.Unpaced, cfg.Seed = topic, int64(n), true, seed
			p := start(t, cfg)
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
		cfg       proc.ProducerConfig
	}{
		{"wrong CA", "kafka.tls.ca_file", proc.ProducerConfig{Brokers: []string{k.SSLAddr}, TLS: proc.KafkaTLS{Enabled: true, CAFile: wrongCA.CAFile}}},
		{"host name mismatch", "kafka.brokers", proc.ProducerConfig{Brokers: []string{"localhost:" + sslPort}, TLS: tlsOn}},
		{"wrong password", "kafka.sasl.password", proc.ProducerConfig{Brokers: []string{k.SASLSSLAddr}, TLS: tlsOn, SASL: withWrongPassword}},
		{"no client certificate", "kafka.tls.cert_file", proc.ProducerConfig{Brokers: []string{k.MTLSAddr}, TLS: tlsOn}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			begin := time.Now()
			cfg := tc.cfg
			cfg.Topic, cfg.Count = testenv.UniqueName("producer-refused"), 1
			p := start(t, cfg)
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
