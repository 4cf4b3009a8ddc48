// Package kafkasecurity turns the services' Kafka security settings (TLS and
// SASL) into what kafka-go needs: a *kafka.Dialer for connections the
// services open themselves and a *kafka.Transport for writers and clients.
//
// How it fails: Validate names every bad key; Dialer and Transport fail only
// when a certificate or key file cannot be read or parsed, naming the key.
// When a broker refuses the connection for a security reason (its
// certificate is not trusted or not for the host dialled, it wants a client
// certificate, it rejects the credentials), Explain turns the error into a
// *RefusedError that names the keys to fix; such an error is permanent
// (errors.Is(err, ErrRefused)): retrying cannot help.
package kafkasecurity

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/segmentio/kafka-go/sasl/scram"

	"github.com/vehicle-stats/vehicle-stats/internal/tlsclient"
	"github.com/vehicle-stats/vehicle-stats/internal/validate"
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
	// CertFile and KeyFile are this client's certificate (PEM, with its
	// chain) and private key, for brokers that require mutual TLS.
	CertFile string `mapstructure:"cert_file" usage:"PEM file of this client's certificate, for mutual TLS"`
	KeyFile  string `mapstructure:"key_file" usage:"PEM file of this client's private key, for mutual TLS"`
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
	// AllowPlaintextPassword accepts the plain mechanism without TLS, which
	// sends the password over the network as it is; Validate refuses that
	// combination otherwise.
	AllowPlaintextPassword bool `mapstructure:"allow_plaintext_password" usage:"accept kafka.sasl.mechanism=plain without kafka.tls: the password crosses the network in clear text"`
}

// DefaultConfig is plaintext without authentication.
func DefaultConfig() Config { return Config{SASL: SASLConfig{Mechanism: "none"}} }

// Connection is how a service reaches Kafka, under the keys kafka.brokers,
// kafka.tls.* and kafka.sasl.*: the processor's topics and the producer's
// sink both squash it into their kafka section, so the two services take
// the same keys.
type Connection struct {
	// Brokers are the bootstrap brokers, host:port.
	Brokers []string `mapstructure:"brokers" usage:"Kafka bootstrap brokers, comma-separated host:port"`
	// Config secures the connections to the brokers (tls.*, sasl.*).
	Config `mapstructure:",squash"`
}

// DefaultConnection is one broker on this host, plaintext without
// authentication.
func DefaultConnection() Connection {
	return Connection{Brokers: []string{"localhost:9092"}, Config: DefaultConfig()}
}

// Validate reports every problem, each prefixed with its key below kafka
// (brokers, sasl.mechanism, ...).
func (c Connection) Validate() error {
	var ch validate.Check
	ch.Require(len(c.Brokers) > 0, "brokers", "name at least one broker (host:port)")
	ch.HostPorts("brokers", c.Brokers)
	ch.Merge("", c.Config.Validate())
	return ch.Err()
}

// Validate reports every problem, each prefixed with its key below kafka.
func (c Config) Validate() error {
	var ch validate.Check
	switch c.SASL.Mechanism {
	case "none", "":
	case "plain", "scram-sha-256", "scram-sha-512":
		ch.Require(c.SASL.Username != "", "sasl.username", "required with a SASL mechanism")
		ch.Require(c.SASL.Password != "", "sasl.password", "required with a SASL mechanism")
		ch.Require(!c.plaintextPassword() || c.SASL.AllowPlaintextPassword, "sasl.mechanism",
			"plain without kafka.tls.enabled sends the password in clear text; turn kafka.tls.enabled on, "+
				"use scram-sha-256 or scram-sha-512, or accept it with kafka.sasl.allow_plaintext_password=true")
	default:
		ch.Require(false, "sasl.mechanism", fmt.Sprintf("%q is not one of none, plain, scram-sha-256, scram-sha-512", c.SASL.Mechanism))
	}
	ch.TLSFiles(c.TLS.Enabled, c.TLS.CAFile, c.TLS.CertFile, c.TLS.KeyFile)
	return ch.Err()
}

// plaintextPassword says the password would cross the network as it is.
func (c Config) plaintextPassword() bool { return c.SASL.Mechanism == "plain" && !c.TLS.Enabled }

// Warn logs, at every start, each setting Validate accepts but that leaves
// the connection open to others: certificates not verified, a password
// sent in clear text. Keys are named in full (kafka.tls.*).
func (c Config) Warn(log *slog.Logger) {
	if c.TLS.InsecureSkipVerify {
		log.Warn("kafka.tls.insecure_skip_verify is on: the brokers' certificates are not verified, so anyone on the network "+
			"path can pose as Kafka; turn it off and trust the brokers' CA with kafka.tls.ca_file", "key", "kafka.tls.insecure_skip_verify")
	}
	if c.plaintextPassword() && c.SASL.AllowPlaintextPassword {
		log.Warn("the SASL/PLAIN password is sent to Kafka in clear text (kafka.sasl.allow_plaintext_password): anyone on the "+
			"network path can read it; turn kafka.tls.enabled on or use scram-sha-512", "key", "kafka.sasl.allow_plaintext_password")
	}
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
	return tlsclient.Load(t, "kafka.tls", c.TLS.CAFile, c.TLS.CertFile, c.TLS.KeyFile)
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

// ErrRefused is what every *RefusedError is (errors.Is): a broker refused
// the connection for a security reason, and retrying will not help.
var ErrRefused = errors.New("refused by the broker")

// RefusedError is a refusal by the broker for a security reason, with the
// configuration keys to fix; errors.Is(err, ErrRefused) holds for it.
type RefusedError = tlsclient.Refusal

// Section is the services' configuration section of a Connection: its keys
// are kafka.brokers, kafka.tls.*, kafka.sasl.*.
const Section = "kafka"

// conn only gives the advice its fields' keys (see keys).
var conn Connection

// keys names fields of conn in full, from their tags: kafka.tls.ca_file.
func keys(fields ...any) string {
	return Section + "." + strings.ReplaceAll(validate.Keys(&conn, fields...), ", ", ", "+Section+".")
}

// tlsAdvice names the keys to fix for each failed TLS handshake.
var tlsAdvice = map[tlsclient.Failure]tlsclient.Advice{
	tlsclient.UnknownCA: {Keys: keys(&conn.TLS.CAFile), Reason: "the broker's certificate is not signed by a CA this client trusts; set " +
		keys(&conn.TLS.CAFile) + " to the CA that signed it"},
	tlsclient.WrongHost: {Keys: keys(&conn.Brokers), Reason: "the broker's certificate is not valid for the address dialled; give " +
		keys(&conn.Brokers) + " as a host name or IP address the certificate names"},
	tlsclient.InvalidCert: {Keys: keys(&conn.TLS.CAFile), Reason: "the broker's certificate is not valid (expired, or not for a server)"},
	tlsclient.PlainServer: {Keys: keys(&conn.TLS.Enabled), Reason: "the broker does not speak TLS on this address; turn " +
		keys(&conn.TLS.Enabled) + " off or use its TLS listener"},
	// The broker sent a TLS alert: it did not accept this client's
	// certificate, or the lack of one.
	tlsclient.ClientRefused: {Keys: keys(&conn.TLS.CertFile, &conn.TLS.KeyFile), Reason: "the broker refused the TLS handshake; it needs a client certificate signed by a CA it trusts"},
}

// Explain returns err as a *RefusedError naming the keys to fix when it is
// a TLS or SASL refusal, and err unchanged otherwise (nil stays nil).
func Explain(err error) error {
	if err == nil || errors.Is(err, ErrRefused) {
		return err
	}
	if r := tlsclient.Explain(err, ErrRefused, tlsAdvice); r != nil {
		return r
	}
	refused := func(keys, reason string) error {
		return &RefusedError{Kind: ErrRefused, Keys: keys, Reason: reason, Err: err}
	}
	switch {
	case errors.Is(err, kafka.SASLAuthenticationFailed):
		return refused(keys(&conn.SASL.Username, &conn.SASL.Password), "the broker rejected the SASL credentials")
	case errors.Is(err, kafka.UnsupportedSASLMechanism), errors.Is(err, kafka.IllegalSASLState):
		return refused(keys(&conn.SASL.Mechanism), "the broker does not accept this SASL mechanism on this listener")
	}
	return err
}

// Probe opens a connection to each broker in turn with dialer and asks for
// its API versions, until one answers; the error of the last is explained
// (see Explain). The services call it first at start-up, because a refusal
// seen here is precise, while through a kafka.Transport it can read as
// "broker not available".
func Probe(ctx context.Context, dialer *kafka.Dialer, brokers []string) error {
	var err error
	for _, b := range brokers {
		var conn *kafka.Conn
		if conn, err = dialer.DialContext(ctx, "tcp", b); err == nil {
			if dl, ok := ctx.Deadline(); ok {
				_ = conn.SetDeadline(dl)
			} else {
				_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
			}
			_, err = conn.ApiVersions()
			conn.Close()
			if err == nil {
				return nil
			}
		}
		err = fmt.Errorf("%s: %w", b, err)
	}
	return Explain(err)
}
