// Package kafkasecurity turns the services' Kafka security settings (TLS and
// SASL) into what kafka-go needs: a *kafka.Dialer for connections the
// services open themselves and a *kafka.Transport for writers and clients.
//
// How it fails: Validate names every bad key; Dialer and Transport fail only
// when the CA file cannot be read or parsed, naming the file.
package kafkasecurity

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/segmentio/kafka-go/sasl/scram"
)

// Config is the security part of a service's Kafka configuration, under
// the keys kafka.tls.* and kafka.sasl.*.
type Config struct {
	TLS  TLSConfig  `mapstructure:"tls"`
	SASL SASLConfig `mapstructure:"sasl"`
}

// TLSConfig enables TLS to the brokers.
type TLSConfig struct {
	// Enabled turns TLS on; the system's CA certificates are trusted.
	Enabled bool `mapstructure:"enabled" usage:"connect to Kafka over TLS"`
	// CAFile is a PEM file of CA certificates trusted instead of the system's.
	CAFile string `mapstructure:"ca_file" usage:"PEM file of the CA certificates to trust (default: the system's)"`
	// InsecureSkipVerify accepts any certificate: for tests only.
	InsecureSkipVerify bool `mapstructure:"insecure_skip_verify" usage:"do not verify the brokers' certificates (tests only)"`
}

// SASLConfig authenticates to the brokers.
type SASLConfig struct {
	// Mechanism is none, plain, scram-sha-256 or scram-sha-512.
	Mechanism string `mapstructure:"mechanism" usage:"SASL mechanism: none, plain, scram-sha-256 or scram-sha-512"`
	// Username and Password are the SASL credentials; pass the password
	// through the environment rather than a file.
	Username string `mapstructure:"username" usage:"SASL user name"`
	Password string `mapstructure:"password" secret:"true" usage:"SASL password (prefer the _FILE variable: a file holding it)"`
}

// DefaultConfig is plaintext without authentication.
func DefaultConfig() Config { return Config{SASL: SASLConfig{Mechanism: "none"}} }

// Validate reports every problem, each prefixed with its key below kafka.
func (c Config) Validate() error {
	var errs []error
	switch c.SASL.Mechanism {
	case "none", "":
	case "plain", "scram-sha-256", "scram-sha-512":
		if c.SASL.Username == "" {
			errs = append(errs, errors.New("sasl.username: required with a SASL mechanism"))
		}
		if c.SASL.Password == "" {
			errs = append(errs, errors.New("sasl.password: required with a SASL mechanism"))
		}
	default:
		errs = append(errs, fmt.Errorf("sasl.mechanism: %q is not one of none, plain, scram-sha-256, scram-sha-512", c.SASL.Mechanism))
	}
	if c.TLS.CAFile != "" {
		if _, err := os.Stat(c.TLS.CAFile); err != nil {
			errs = append(errs, fmt.Errorf("tls.ca_file: %v", err))
		}
		if !c.TLS.Enabled {
			errs = append(errs, errors.New("tls.ca_file: set, but tls.enabled is false"))
		}
	}
	return errors.Join(errs...)
}

// Redacted is a copy with the password masked, for logs and status pages.
func (c Config) Redacted() Config {
	if c.SASL.Password != "" {
		c.SASL.Password = "********"
	}
	return c
}

func (c Config) tlsConfig() (*tls.Config, error) {
	if !c.TLS.Enabled {
		return nil, nil
	}
	t := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: c.TLS.InsecureSkipVerify} //nolint:gosec // opt-in, tests only
	if c.TLS.CAFile != "" {
		pem, err := os.ReadFile(c.TLS.CAFile)
		if err != nil {
			return nil, fmt.Errorf("kafka.tls.ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("kafka.tls.ca_file %s: no PEM certificate in it", c.TLS.CAFile)
		}
		t.RootCAs = pool
	}
	return t, nil
}

func (c Config) mechanism() (sasl.Mechanism, error) {
	switch c.SASL.Mechanism {
	case "plain":
		return plain.Mechanism{Username: c.SASL.Username, Password: c.SASL.Password}, nil
	case "scram-sha-256":
		return scram.Mechanism(scram.SHA256, c.SASL.Username, c.SASL.Password)
	case "scram-sha-512":
		return scram.Mechanism(scram.SHA512, c.SASL.Username, c.SASL.Password)
	default:
		return nil, nil
	}
}

// parts builds the TLS configuration and the SASL mechanism; either is nil
// when off.
func (c Config) parts() (*tls.Config, sasl.Mechanism, error) {
	t, err := c.tlsConfig()
	if err != nil {
		return nil, nil, err
	}
	m, err := c.mechanism()
	if err != nil {
		return nil, nil, fmt.Errorf("kafka.sasl: %w", err)
	}
	return t, m, nil
}

// Dialer returns a dialer with the security settings.
func (c Config) Dialer(clientID string, timeout time.Duration) (*kafka.Dialer, error) {
	t, m, err := c.parts()
	if err != nil {
		return nil, err
	}
	return &kafka.Dialer{ClientID: clientID, Timeout: timeout, DualStack: true, TLS: t, SASLMechanism: m}, nil
}

// Transport returns a transport with the security settings.
func (c Config) Transport(clientID string, dialTimeout time.Duration) (*kafka.Transport, error) {
	t, m, err := c.parts()
	if err != nil {
		return nil, err
	}
	return &kafka.Transport{ClientID: clientID, DialTimeout: dialTimeout, TLS: t, SASL: m}, nil
}
