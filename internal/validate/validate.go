package validate

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
)

// FieldError is a problem with one key, for Validate methods.
type FieldError struct {
	// Key is the dotted key path, relative to the struct validated, e.g.
	// "window.size".
	Key string
	// Reason says what is wrong and, where it helps, what is expected.
	Reason string
}

func (e *FieldError) Error() string { return e.Key + ": " + e.Reason }

// Fields turns a Validate error into its FieldErrors: a *FieldError as it
// is, joined errors one by one, anything else as a FieldError without a key
// (a Validate method names its keys with FieldErrors; its message is never
// parsed for one).
func Fields(err error) []*FieldError {
	var fe *FieldError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &fe) && fe == err:
		return []*FieldError{fe}
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []*FieldError
		for _, e := range j.Unwrap() {
			out = append(out, Fields(e)...)
		}
		return out
	}
	return []*FieldError{{Reason: err.Error()}}
}

// Check collects FieldErrors for a Validate method:
//
//	var c validate.Check
//	c.Require(cfg.Size > 0, "window.size", "must be positive")
//	return c.Err()
type Check struct{ errs []error }

// Require records reason for key unless ok.
func (c *Check) Require(ok bool, key, reason string) {
	if !ok {
		c.errs = append(c.errs, &FieldError{Key: key, Reason: reason})
	}
}

// Add records a problem with key when err is not nil.
func (c *Check) Add(key string, err error) {
	if err != nil {
		c.errs = append(c.errs, &FieldError{Key: key, Reason: err.Error()})
	}
}

// Merge records every problem of another Validate, its keys under prefix.
func (c *Check) Merge(prefix string, err error) {
	for _, p := range Fields(err) {
		key := p.Key
		if prefix != "" && key != "" {
			key = prefix + "." + key
		}
		c.errs = append(c.errs, &FieldError{Key: key, Reason: p.Reason})
	}
}

// TLSFiles checks the PEM files of a tls group (keys tls.ca_file,
// tls.cert_file, tls.key_file): each one set must exist and needs
// tls.enabled, and the certificate and its key go together.
func (c *Check) TLSFiles(enabled bool, caFile, certFile, keyFile string) {
	for _, f := range []struct{ key, path string }{{"tls.ca_file", caFile}, {"tls.cert_file", certFile}, {"tls.key_file", keyFile}} {
		if f.path == "" {
			continue
		}
		_, err := os.Stat(f.path)
		c.Add(f.key, err)
		c.Require(enabled, f.key, "set, but tls.enabled is false")
	}
	c.Require((certFile == "") == (keyFile == ""), "tls.cert_file", "tls.cert_file and tls.key_file go together: set both, or neither")
}

// HostPorts records a problem with key for each address that is not
// host:port with a port from 1 to 65535 (a host may be empty: ":9092" is
// this host).
func (c *Check) HostPorts(key string, addrs []string) {
	for _, a := range addrs {
		c.Add(key, hostPort(a, 1))
	}
}

// ListenAddr records a problem with key unless addr is host:port with a port
// from 0 to 65535, 0 meaning any free port (an empty host listens on every
// interface).
func (c *Check) ListenAddr(key, addr string) {
	c.Add(key, hostPort(addr, 0))
}

// hostPort checks addr is host:port with a numeric port from lowest to
// 65535.
func hostPort(addr string, lowest int) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil || port == "" {
		return fmt.Errorf("%q is not host:port (e.g. 127.0.0.1:9080 or :9080)", addr)
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < lowest || n > 65535 {
		return fmt.Errorf("%q: port %s is not a number from %d to 65535", addr, port, lowest)
	}
	return nil
}

// Err returns the recorded problems joined, or nil.
func (c *Check) Err() error { return errors.Join(c.errs...) }
