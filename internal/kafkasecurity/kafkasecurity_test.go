package kafkasecurity_test

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/vehicle-stats/vehicle-stats/internal/config"
	"github.com/vehicle-stats/vehicle-stats/internal/config/configtest"
	"github.com/vehicle-stats/vehicle-stats/internal/kafkasecurity"
)

func TestValidate(t *testing.T) {
	if err := kafkasecurity.DefaultConfig().Validate(); err != nil {
		t.Fatal(err)
	}
	c := kafkasecurity.Config{SASL: kafkasecurity.SASLConfig{Mechanism: "plain"}, TLS: kafkasecurity.TLSConfig{CAFile: "/nonexistent.pem"}}
	err := c.Validate()
	for _, key := range []string{"sasl.username:", "sasl.password:", "tls.ca_file:"} {
		if err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("error lacks %s: %v", key, err)
		}
	}
	if err := (kafkasecurity.Config{SASL: kafkasecurity.SASLConfig{Mechanism: "kerberos"}}).Validate(); err == nil || !strings.Contains(err.Error(), "sasl.mechanism:") {
		t.Errorf("unknown mechanism: %v", err)
	}
}

// TestConnection: the one definition of both services' Kafka connection
// takes the keys brokers, tls.* and sasl.*, and validates them all.
func TestConnection(t *testing.T) {
	c := kafkasecurity.DefaultConnection()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	env := []string{"X_BROKERS=a:1, b:2", "X_TLS_ENABLED=true", "X_SASL_MECHANISM=scram-sha-512", "X_SASL_USERNAME=u", "X_SASL_PASSWORD=p"}
	if err := config.Load(&c, config.Options{Service: "x", EnvPrefix: "X_", Environ: env}); err != nil {
		t.Fatal(err)
	}
	want := kafkasecurity.Connection{Brokers: []string{"a:1", "b:2"}, Config: kafkasecurity.Config{
		TLS: kafkasecurity.TLSConfig{Enabled: true}, SASL: kafkasecurity.SASLConfig{Mechanism: "scram-sha-512", Username: "u", Password: "p"}}}
	if fmt.Sprint(c) != fmt.Sprint(want) {
		t.Errorf("got %+v, want %+v", c, want)
	}
	err := kafkasecurity.Connection{Brokers: []string{"nohost"}, Config: kafkasecurity.Config{SASL: kafkasecurity.SASLConfig{Mechanism: "kerberos"}}}.Validate()
	for _, key := range []string{`brokers: "nohost" is not host:port`, "sasl.mechanism:"} {
		if err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("error lacks %s: %v", key, err)
		}
	}
}

func TestDialerAndTransport(t *testing.T) {
	for _, m := range []string{"none", "plain", "scram-sha-256", "scram-sha-512"} {
		c := kafkasecurity.Config{TLS: kafkasecurity.TLSConfig{Enabled: m != "none"}, SASL: kafkasecurity.SASLConfig{Mechanism: m, Username: "u", Password: "p"}}
		d, err := c.Dialer("test", time.Second)
		if err != nil {
			t.Fatalf("%s: %v", m, err)
		}
		if (d.SASLMechanism == nil) != (m == "none") || (d.TLS == nil) != (m == "none") {
			t.Errorf("%s: dialer %+v", m, d)
		}
		tr, err := c.Transport("test", time.Second)
		if err != nil || (tr.SASL == nil) != (m == "none") {
			t.Errorf("%s: transport %+v, %v", m, tr, err)
		}
	}
	if r := (kafkasecurity.Config{SASL: kafkasecurity.SASLConfig{Password: "secret"}}).Redacted(); r.SASL.Password == "secret" {
		t.Error("Redacted kept the password")
	}
}

func TestValidateClientCertificate(t *testing.T) {
	c := kafkasecurity.Config{TLS: kafkasecurity.TLSConfig{CertFile: "/nonexistent-cert.pem"}}
	err := c.Validate()
	for _, want := range []string{"tls.cert_file: stat", "tls.cert_file: set, but tls.enabled is false", "tls.cert_file and tls.key_file go together"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
}

func TestExplain(t *testing.T) {
	remoteAlert := &net.OpError{Op: "remote error", Err: errors.New("tls: certificate required")}
	for _, tc := range []struct {
		err  error
		keys string
	}{
		{fmt.Errorf("dial: %w", &tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}}), "kafka.tls.ca_file"},
		{fmt.Errorf("dial: %w", x509.HostnameError{Certificate: &x509.Certificate{}, Host: "localhost"}), "kafka.brokers"},
		{fmt.Errorf("dial: %w", x509.CertificateInvalidError{Reason: x509.Expired}), "kafka.tls.ca_file"},
		{fmt.Errorf("dial: %w", tls.RecordHeaderError{Msg: "first record does not look like a TLS handshake"}), "kafka.tls.enabled"},
		{fmt.Errorf("dial: %w", remoteAlert), "kafka.tls.cert_file, kafka.tls.key_file"},
		{fmt.Errorf("sasl: %w", kafka.SASLAuthenticationFailed), "kafka.sasl.username, kafka.sasl.password"},
		{fmt.Errorf("sasl: %w", kafka.UnsupportedSASLMechanism), "kafka.sasl.mechanism"},
	} {
		err := kafkasecurity.Explain(tc.err)
		var re *kafkasecurity.RefusedError
		if !errors.As(err, &re) || re.Keys != tc.keys || !errors.Is(err, kafkasecurity.ErrRefused) || !errors.Is(err, tc.err) {
			t.Errorf("Explain(%v) = %v, want a refusal naming %s that wraps the error", tc.err, err, tc.keys)
		}
		if again := kafkasecurity.Explain(err); again != err {
			t.Errorf("Explain is not idempotent: %v", again)
		}
	}
	plain := errors.New("dial tcp 127.0.0.1:1: connect: connection refused")
	if err := kafkasecurity.Explain(plain); err != plain || errors.Is(err, kafkasecurity.ErrRefused) {
		t.Errorf("a connection error became %v", err)
	}
	if kafkasecurity.Explain(nil) != nil {
		t.Error("Explain(nil) != nil")
	}
}

// SASL/PLAIN without TLS sends the password as it is: refused, naming
// kafka.sasl.mechanism and the opt-in key, unless opted in; with TLS, or
// with SCRAM, it is fine.
func TestPlainPasswordNeedsTLSOrOptIn(t *testing.T) {
	sasl := func(m string) kafkasecurity.SASLConfig {
		return kafkasecurity.SASLConfig{Mechanism: m, Username: "u", Password: "p"}
	}
	err := kafkasecurity.Config{SASL: sasl("plain")}.Validate()
	if err == nil || !strings.Contains(err.Error(), "sasl.mechanism: plain without kafka.tls.enabled") ||
		!strings.Contains(err.Error(), "kafka.sasl.allow_plaintext_password=true") {
		t.Errorf("plain without TLS: %v", err)
	}
	allowed := sasl("plain")
	allowed.AllowPlaintextPassword = true
	for _, c := range []kafkasecurity.Config{
		{SASL: allowed},
		{SASL: sasl("plain"), TLS: kafkasecurity.TLSConfig{Enabled: true}},
		{SASL: sasl("scram-sha-512")},
	} {
		if err := c.Validate(); err != nil {
			t.Errorf("%+v: %v", c, err)
		}
	}
}

// The settings that leave Kafka's connection open are logged at every
// start; safe ones log nothing.
func TestWarn(t *testing.T) {
	plain := kafkasecurity.SASLConfig{Mechanism: "plain", Username: "u", Password: "p", AllowPlaintextPassword: true}
	configtest.Warns(t, kafkasecurity.Config{SASL: plain, TLS: kafkasecurity.TLSConfig{Enabled: true, InsecureSkipVerify: true}}.Warn,
		[]string{"not verified", "key=kafka.tls.insecure_skip_verify"})
	configtest.Warns(t, kafkasecurity.Config{SASL: plain}.Warn, []string{"clear text", "key=kafka.sasl.allow_plaintext_password"})
	configtest.Warns(t, kafkasecurity.DefaultConfig().Warn)
	plain.AllowPlaintextPassword = false
	configtest.Warns(t, kafkasecurity.Config{SASL: plain, TLS: kafkasecurity.TLSConfig{Enabled: true}}.Warn)
}
