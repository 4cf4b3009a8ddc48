package tlsclient_test

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vehicle-stats/vehicle-stats/internal/tlsclient"
)

func TestLoadNamesTheKeys(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(notPEM, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ ca, cert, key, want string }{
		{filepath.Join(dir, "missing.pem"), "", "", "redis.tls.ca_file:"},
		{notPEM, "", "", "redis.tls.ca_file " + notPEM + ": no PEM certificate"},
		{"", filepath.Join(dir, "c.pem"), "", "redis.tls.cert_file, redis.tls.key_file:"},
	} {
		_, err := tlsclient.Load(&tls.Config{}, "redis.tls", c.ca, c.cert, c.key)
		if err == nil || !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("Load(%q, %q, %q) = %v, want an error starting %q", c.ca, c.cert, c.key, err, c.want)
		}
	}
	if cfg, err := tlsclient.Load(&tls.Config{ServerName: "x"}, "kafka.tls", "", "", ""); err != nil || cfg.ServerName != "x" || cfg.RootCAs != nil {
		t.Errorf("no files: %+v, %v", cfg, err)
	}
}

func TestClassify(t *testing.T) {
	if got := tlsclient.Classify(nil); got != tlsclient.NotTLS {
		t.Errorf("nil: %v", got)
	}
	if got := tlsclient.Classify(errors.New("connection refused")); got != tlsclient.NotTLS {
		t.Errorf("plain error: %v", got)
	}
	if got := tlsclient.Classify(errors.New("remote error: tls: certificate required")); got != tlsclient.ClientRefused {
		t.Errorf("TLS alert: %v", got)
	}
	if got := tlsclient.Classify(tls.RecordHeaderError{Msg: "first record does not look like a TLS handshake"}); got != tlsclient.PlainServer {
		t.Errorf("record header: %v", got)
	}
}

func TestExplainGivesTheAdviceOfItsKind(t *testing.T) {
	kafkaKind, redisKind := errors.New("kafka refused"), errors.New("redis refused")
	advice := map[tlsclient.Failure]tlsclient.Advice{tlsclient.UnknownCA: {Keys: "x.tls.ca_file", Reason: "unknown CA"}}
	handshake := fmt.Errorf("dial: %w", x509.UnknownAuthorityError{})

	r := tlsclient.Explain(handshake, kafkaKind, advice)
	if r == nil || r.Keys != "x.tls.ca_file" || r.Reason != "unknown CA" {
		t.Fatalf("Explain = %+v, want the UnknownCA advice", r)
	}
	var err error = r
	if !errors.Is(err, kafkaKind) || errors.Is(err, redisKind) {
		t.Error("a refusal must be its own kind and no other")
	}
	if !errors.Is(err, handshake) {
		t.Error("a refusal must unwrap to the handshake error")
	}
	if got := err.Error(); !strings.HasPrefix(got, "x.tls.ca_file: unknown CA (dial: ") {
		t.Errorf("Error() = %q, want the keys, the reason, then the cause", got)
	}
	if r := tlsclient.Explain(fmt.Errorf("dial: %w", x509.HostnameError{}), kafkaKind, advice); r != nil {
		t.Errorf("a failure without advice gave %v, want nil", r)
	}
	if r := tlsclient.Explain(errors.New("connection refused"), kafkaKind, advice); r != nil {
		t.Errorf("a non-TLS error gave %v, want nil", r)
	}
}
