// Package tlsclient is the TLS client side both services share for Kafka
// and Redis: a tls.Config from a CA file and a client key pair, the kind of
// a failed handshake, and the refusal error that names the keys to fix
// (each caller gives the advice for its own keys).
// It does no I/O beyond reading the files it is given.
package tlsclient

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"
)

// Load completes t with the CA in caFile (when set) as its roots and the
// key pair certFile/keyFile (when either is set) as its client certificate.
// Errors name the keys, prefix + ".ca_file" etc. (prefix e.g. "kafka.tls").
func Load(t *tls.Config, prefix, caFile, certFile, keyFile string) (*tls.Config, error) {
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("%s.ca_file: %w", prefix, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s.ca_file %s: no PEM certificate in it", prefix, caFile)
		}
		t.RootCAs = pool
	}
	if certFile != "" || keyFile != "" {
		pair, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("%s.cert_file, %s.key_file: %w", prefix, prefix, err)
		}
		t.Certificates = []tls.Certificate{pair}
	}
	return t, nil
}

// Failure is why a TLS connection failed, as far as the client can tell.
type Failure int

const (
	// NotTLS: err is not a TLS failure this package knows.
	NotTLS Failure = iota
	// UnknownCA: the server's certificate is not signed by a trusted CA.
	UnknownCA
	// WrongHost: the certificate is not valid for the name checked.
	WrongHost
	// InvalidCert: the certificate is expired or not for a server.
	InvalidCert
	// PlainServer: the server does not speak TLS on that address.
	PlainServer
	// ClientRefused: the server sent a TLS alert, refusing this client's
	// certificate or the lack of one.
	ClientRefused
)

// Classify says which Failure err is.
func Classify(err error) Failure {
	var (
		unknownCA x509.UnknownAuthorityError
		hostname  x509.HostnameError
		invalid   x509.CertificateInvalidError
		header    tls.RecordHeaderError
	)
	switch {
	case err == nil:
		return NotTLS
	case errors.As(err, &unknownCA):
		return UnknownCA
	case errors.As(err, &hostname):
		return WrongHost
	case errors.As(err, &invalid):
		return InvalidCert
	case errors.As(err, &header):
		return PlainServer
	case strings.Contains(err.Error(), "remote error: tls:"):
		return ClientRefused
	}
	return NotTLS
}

// Refusal is a refusal for a security reason, with the configuration keys
// to fix; retrying will not help. Kafka's and Redis's clients each give it
// their own Kind, so that errors.Is tells which server refused.
type Refusal struct {
	// Kind is the sentinel errors.Is(err, Kind) holds for.
	Kind error
	// Keys are the configuration keys to look at, e.g. "kafka.tls.ca_file".
	Keys string
	// Reason says, in the user's terms, what went wrong.
	Reason string
	// Err is the error from the TLS layer or the server.
	Err error
}

func (e *Refusal) Error() string { return fmt.Sprintf("%s: %s (%v)", e.Keys, e.Reason, e.Err) }

// Unwrap returns the underlying error.
func (e *Refusal) Unwrap() error { return e.Err }

// Is makes errors.Is(err, e.Kind) hold.
func (e *Refusal) Is(target error) bool { return target == e.Kind }

// Advice is what to tell the user about one kind of failure: the keys to
// fix and why.
type Advice struct{ Keys, Reason string }

// Explain returns err as a *Refusal of kind when Classify finds a TLS
// failure that advice covers, and nil otherwise.
func Explain(err, kind error, advice map[Failure]Advice) *Refusal {
	if a, ok := advice[Classify(err)]; ok {
		return &Refusal{Kind: kind, Keys: a.Keys, Reason: a.Reason, Err: err}
	}
	return nil
}
