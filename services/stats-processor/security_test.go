package main_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/vehicle-stats/vehicle-stats/internal/contracttest"
	"github.com/vehicle-stats/vehicle-stats/internal/redisconn"
	"github.com/vehicle-stats/vehicle-stats/internal/testenv"
	"github.com/vehicle-stats/vehicle-stats/internal/testenv/private"
	"github.com/vehicle-stats/vehicle-stats/internal/testenv/proc"
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
	k := private.StartKafkaTLS(t)
	env.Brokers = []string{k.Addr} // the test itself uses the plaintext listener
	passwordFile := filepath.Join(t.TempDir(), "scram-password")
	if err := os.WriteFile(passwordFile, []byte(k.ScramPassword+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tlsOn := []string{"PROCESSOR_KAFKA_TLS_ENABLED=true", "PROCESSOR_KAFKA_TLS_CA_FILE=" + k.PKI.CAFile}
	scram := []string{"PROCESSOR_KAFKA_SASL_MECHANISM=scram-sha-512", "PROCESSOR_KAFKA_SASL_USERNAME=" + k.ScramUser}
	clientCert := []string{"PROCESSOR_KAFKA_TLS_CERT_FILE=" + k.Client.CertFile, "PROCESSOR_KAFKA_TLS_KEY_FILE=" + k.Client.KeyFile}
	for i, tc := range []struct {
		name string
		env  []string
	}{
		{"tls", slices.Concat([]string{"PROCESSOR_KAFKA_BROKERS=" + k.SSLAddr}, tlsOn)},
		{"scram-sha-512 over tls", slices.Concat([]string{"PROCESSOR_KAFKA_BROKERS=" + k.SASLSSLAddr, "PROCESSOR_KAFKA_SASL_PASSWORD_FILE=" + passwordFile}, tlsOn, scram)},
		{"mutual tls", slices.Concat([]string{"PROCESSOR_KAFKA_BROKERS=" + k.MTLSAddr}, tlsOn, clientCert)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newScenarioOn(t, env, 3)
			s.cfg.Extra = append(s.cfg.Extra, tc.env...)
			data := contracttest.Dataset(uint64(20+i), 3, 600, base(), s.ooo)
			want, _, _ := contracttest.ExpectedRecords(data, s.window, s.ooo)
			for _, c := range contracttest.Interleave(data, 300) {
				s.produce(context.Background(), c)
			}
			p := s.start("tls-" + itoa(i))
			s.waitOutput(want)
			s.checkDeadLetters(data)
			s.checkStats(p.Addr, want)
			stop(t, p)
			if log := p.Tail(100000); strings.Contains(log, k.ScramPassword) {
				t.Errorf("the log shows the SCRAM password:\n%s", log)
			}
		})
	}

	wrongCA := private.NewPKI(t, "other-ca")
	for _, tc := range []struct {
		name, key string
		env       []string
	}{
		{"wrong CA", "kafka.tls.ca_file", []string{"PROCESSOR_KAFKA_BROKERS=" + k.SSLAddr, "PROCESSOR_KAFKA_TLS_ENABLED=true", "PROCESSOR_KAFKA_TLS_CA_FILE=" + wrongCA.CAFile}},
		{"host name mismatch", "kafka.brokers", slices.Concat([]string{"PROCESSOR_KAFKA_BROKERS=localhost" + k.SSLAddr[strings.LastIndex(k.SSLAddr, ":"):]}, tlsOn)},
		{"wrong password", "kafka.sasl.password", slices.Concat([]string{"PROCESSOR_KAFKA_BROKERS=" + k.SASLSSLAddr, "PROCESSOR_KAFKA_SASL_PASSWORD=wrong-" + k.ScramPassword}, tlsOn, scram)},
		{"no client certificate", "kafka.tls.cert_file", slices.Concat([]string{"PROCESSOR_KAFKA_BROKERS=" + k.MTLSAddr}, tlsOn)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := startFails(t, "kafka-"+strings.ReplaceAll(tc.name, " ", "-"), proc.ProcessorConfig{RedisAddr: env.RedisAddr, Extra: tc.env})
			if !strings.Contains(out, tc.key) {
				t.Errorf("start-up did not name %s:\n%s", tc.key, out)
			}
			if strings.Contains(out, k.ScramPassword) {
				t.Errorf("the output shows the password:\n%s", out)
			}
		})
	}
}

// startFails runs the processor with cfg, requires it to exit non-zero
// within 20 s (a refusal is not waited out; after a minute it is killed),
// and returns its output.
func startFails(t *testing.T, name string, cfg proc.ProcessorConfig) string {
	t.Helper()
	cfg.HTTPAddr = "127.0.0.1:0"
	cfg.Extra = append([]string{"PROCESSOR_LOG_FORMAT=text"}, cfg.Extra...)
	start := time.Now()
	p, err := proc.ExecProcessor(proc.Binary(t, "./services/stats-processor", true), "", cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Kill)
	select {
	case <-p.Done():
	case <-time.After(time.Minute):
		t.Fatalf("start-up did not fail: still running after a minute\n%s", p.Tail(30))
	}
	out := p.Tail(100000)
	if p.Err() == nil {
		t.Fatalf("start-up did not fail (exit 0 after %s):\n%s", time.Since(start).Round(time.Millisecond), out)
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Errorf("the refusal took %s to stop start-up: it was retried", d.Round(time.Second))
	}
	return out
}

// TestE2ERedisTLSACL runs the processor against Redis through TLS (the
// server's certificate verified against the test's CA under
// redis.tls.server_name, a client certificate presented) as an ACL user
// limited to the pipeline's key prefix and the commands the processor uses:
// the rule docs/configuration.md gives, read from it. Counts are exact, nothing was
// refused, and the user cannot touch keys outside its prefix. Then a wrong
// CA, a wrong server name, a missing client certificate and a wrong
// password each stop start-up at once naming the key to fix.
func TestE2ERedisTLSACL(t *testing.T) {
	env := testenv.Get(t)
	r := private.StartRedisTLS(t)
	s := newScenarioOn(t, testenv.Services{Brokers: env.Brokers, RedisAddr: r.Addr}, 3)
	ctx := context.Background()
	password := testenv.UniqueName("acl-password")
	admin := redis.NewClient(&redis.Options{Addr: r.Addr}) // the plain port, as the default user
	defer admin.Close()
	if err := admin.Do(ctx, docsACLRule(t, s.cfg.KeyPrefix, password)...).Err(); err != nil {
		t.Fatalf("ACL SETUSER from docs/configuration.md: %v", err)
	}
	passwordFile := filepath.Join(t.TempDir(), "redis-password")
	if err := os.WriteFile(passwordFile, []byte(password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tlsOn := []string{"PROCESSOR_REDIS_ADDR=" + r.TLSAddr, "PROCESSOR_REDIS_TLS_ENABLED=true", "PROCESSOR_REDIS_TLS_CA_FILE=" + r.PKI.CAFile,
		"PROCESSOR_REDIS_TLS_SERVER_NAME=" + r.ServerName}
	clientCert := []string{"PROCESSOR_REDIS_TLS_CERT_FILE=" + r.Client.CertFile, "PROCESSOR_REDIS_TLS_KEY_FILE=" + r.Client.KeyFile}
	user := []string{"PROCESSOR_REDIS_USERNAME=vs-processor"}
	s.cfg.Extra = append(append(append(append(s.cfg.Extra, tlsOn...), clientCert...), user...), "PROCESSOR_REDIS_PASSWORD_FILE="+passwordFile)

	data := contracttest.Dataset(30, 3, 800, base(), s.ooo)
	want, _, _ := contracttest.ExpectedRecords(data, s.window, s.ooo)
	for _, c := range contracttest.Interleave(data, 400) {
		s.produce(ctx, c)
	}
	p := s.start("redis-tls")
	s.waitOutput(want)
	s.checkDeadLetters(data)
	s.checkStats(p.Addr, want)
	stop(t, p)
	log := p.Tail(100000)
	if strings.Contains(log, "NOPERM") || strings.Contains(log, "redis.username") {
		t.Errorf("the ACL rule lacks a permission the processor used:\n%s", log)
	}
	if strings.Contains(log, password) {
		t.Errorf("the log shows the Redis password")
	}
	// The rule is a real limit: the user reaches no key outside its prefix
	// and no administrative command.
	limited, err := redisconn.New(redisconn.Config{Addr: r.TLSAddr, Username: "vs-processor", Password: password, TLS: redisconn.TLSConfig{
		Enabled: true, CAFile: r.PKI.CAFile, CertFile: r.Client.CertFile, KeyFile: r.Client.KeyFile, ServerName: r.ServerName}})
	if err != nil {
		t.Fatal(err)
	}
	defer limited.Close()
	if err := limited.HSet(ctx, s.cfg.KeyPrefix+":probe", "f", "1").Err(); err != nil {
		t.Errorf("HSET inside the prefix: %v", err)
	}
	for name, err := range map[string]error{
		"SET outside the prefix": limited.Set(ctx, "other-pipeline:x", "1", 0).Err(),
		"GET outside the prefix": limited.Get(ctx, "other-pipeline:x").Err(),
		"FLUSHALL":               limited.FlushAll(ctx).Err(),
		"CONFIG GET":             limited.ConfigGet(ctx, "*").Err(),
	} {
		if !errors.Is(err, redisconn.ErrRefused) || !strings.Contains(err.Error(), "NOPERM") {
			t.Errorf("%s as the limited user: %v, want NOPERM", name, err)
		}
	}

	wrongCA := private.NewPKI(t, "other-ca")
	for _, tc := range []struct {
		name, key string
		env       []string
	}{
		{"wrong CA", "redis.tls.ca_file", slices.Concat(tlsOn, clientCert, []string{"PROCESSOR_REDIS_TLS_CA_FILE=" + wrongCA.CAFile})},
		{"no server name", "redis.tls.server_name", slices.Concat(tlsOn, clientCert, []string{"PROCESSOR_REDIS_TLS_SERVER_NAME="})},
		{"no client certificate", "redis.tls.cert_file", tlsOn},
		{"wrong password", "redis.password", slices.Concat(tlsOn, clientCert, user, []string{"PROCESSOR_REDIS_PASSWORD=wrong-" + password})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := startFails(t, "redis-"+strings.ReplaceAll(tc.name, " ", "-"), proc.ProcessorConfig{Brokers: env.Brokers, Extra: tc.env})
			if !strings.Contains(out, tc.key) {
				t.Errorf("start-up did not name %s:\n%s", tc.key, out)
			}
			if strings.Contains(out, password) {
				t.Errorf("the output shows the password:\n%s", out)
			}
		})
	}
}

// docsACLRule reads docs/configuration.md's ACL SETUSER line for the processor and
// returns it as command arguments for this test's key prefix and password.
func docsACLRule(t *testing.T, prefix, password string) []any {
	t.Helper()
	readme, err := os.ReadFile(filepath.Join(testenv.RepoRoot(t), "docs", "configuration.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(readme), "\n") {
		rule, ok := strings.CutPrefix(strings.TrimSpace(line), "ACL SETUSER vs-processor ")
		if !ok {
			continue
		}
		args := []any{"ACL", "SETUSER", "vs-processor"}
		for _, f := range strings.Fields(rule) {
			switch f {
			case ">CHANGE-ME":
				f = ">" + password
			case "~vs:*":
				f = "~" + prefix + ":*"
			case "&vs:*":
				f = "&" + prefix + ":*"
			}
			args = append(args, f)
		}
		return args
	}
	t.Fatal("docs/configuration.md has no line starting with ACL SETUSER vs-processor")
	return nil
}
