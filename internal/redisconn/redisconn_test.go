package redisconn_test

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/vehicle-stats/vehicle-stats/internal/redisconn"
	"github.com/vehicle-stats/vehicle-stats/internal/testenv/private"
)

func TestValidate(t *testing.T) {
	if err := (redisconn.Config{Addr: "localhost:6379"}).Validate(); err != nil {
		t.Fatal(err)
	}
	if err := (redisconn.Config{Addr: "a:1, b:2", Cluster: true}).Validate(); err != nil {
		t.Errorf("cluster seeds: %v", err)
	}
	bad := redisconn.Config{Addr: "nohost", Cluster: true, DB: 2, Username: "u", Password: "",
		TLS: redisconn.TLSConfig{CAFile: "/nonexistent-ca.pem", CertFile: "/nonexistent.pem", ServerName: "x"}}
	err := bad.Validate()
	for _, want := range []string{"addr:", "db: must be 0 with redis.cluster",
		"tls.ca_file: stat", "tls.ca_file: set, but tls.enabled is false", "tls.cert_file and tls.key_file go together", "tls.server_name: set"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
}

func TestNewReadsTheTLSFiles(t *testing.T) {
	pki := private.NewPKI(t, "unit")
	c := pki.Issue(t, "client")
	rdb, err := redisconn.New(redisconn.Config{Addr: "127.0.0.1:1", TLS: redisconn.TLSConfig{Enabled: true, CAFile: pki.CAFile, CertFile: c.CertFile, KeyFile: c.KeyFile}})
	if err != nil {
		t.Fatal(err)
	}
	rdb.Close()
	_, err = redisconn.New(redisconn.Config{Addr: "127.0.0.1:1", TLS: redisconn.TLSConfig{Enabled: true, CAFile: c.KeyFile}})
	if err == nil || !strings.Contains(err.Error(), "redis.tls.ca_file") {
		t.Errorf("a key as the CA file: %v", err)
	}
	_, err = redisconn.New(redisconn.Config{Addr: "127.0.0.1:1", TLS: redisconn.TLSConfig{Enabled: true, CertFile: c.CertFile, KeyFile: pki.CAFile}})
	if err == nil || !strings.Contains(err.Error(), "redis.tls.cert_file") {
		t.Errorf("a certificate as the key file: %v", err)
	}
}

func TestExplain(t *testing.T) {
	for _, tc := range []struct {
		err  error
		keys string
	}{
		{fmt.Errorf("dial: %w", x509.UnknownAuthorityError{}), "redis.tls.ca_file"},
		{fmt.Errorf("dial: %w", x509.HostnameError{Certificate: &x509.Certificate{}, Host: "127.0.0.1"}), "redis.tls.server_name"},
		{errors.New("remote error: tls: certificate required"), "redis.tls.cert_file, redis.tls.key_file"},
		{errors.New("WRONGPASS invalid username-password pair or user is disabled."), "redis.username, redis.password"},
		{errors.New("NOAUTH Authentication required."), "redis.username, redis.password"},
		{errors.New("NOPERM this user has no permissions to run the 'flushall' command"), "redis.username"},
	} {
		err := redisconn.Explain(tc.err)
		var re *redisconn.RefusedError
		if !errors.As(err, &re) || re.Keys != tc.keys || !errors.Is(err, redisconn.ErrRefused) || !errors.Is(err, tc.err) {
			t.Errorf("Explain(%v) = %v, want a refusal naming %s", tc.err, err, tc.keys)
		}
	}
	for _, err := range []error{nil, redis.Nil, context.DeadlineExceeded, errors.New("dial tcp 127.0.0.1:1: connect: connection refused")} {
		if got := redisconn.Explain(err); got != err {
			t.Errorf("Explain(%v) = %v, want it unchanged", err, got)
		}
	}
}
