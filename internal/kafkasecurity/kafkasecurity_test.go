package kafkasecurity_test

import (
	"strings"
	"testing"
	"time"

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
