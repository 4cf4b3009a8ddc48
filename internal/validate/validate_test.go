package validate_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/vehicle-stats/vehicle-stats/internal/validate"
)

func TestCheckHostPorts(t *testing.T) {
	var c validate.Check
	c.HostPorts("brokers", []string{"a:1", ":9092", "[::1]:9092", "nohost", "a:", "::1:9092"})
	err := c.Err()
	for _, bad := range []string{`"nohost"`, `"a:"`, `"::1:9092"`} {
		if err == nil || !strings.Contains(err.Error(), "brokers: "+bad+" is not host:port") {
			t.Errorf("%s not reported: %v", bad, err)
		}
	}
	if n := strings.Count(err.Error(), "brokers:"); n != 3 {
		t.Errorf("%d problems, want 3: %v", n, err)
	}
}

func TestCheckPorts(t *testing.T) {
	var c validate.Check
	c.HostPorts("brokers", []string{"a:1", "a:65535", "a:0", "a:65536", "a:http", "a:-1"})
	c.ListenAddr("addr", ":0")
	c.ListenAddr("addr", "127.0.0.1:9080")
	c.ListenAddr("pprof_addr", ":99999")
	err := c.Err()
	for _, bad := range []string{`brokers: "a:0": port 0 is not a number from 1 to 65535`, `brokers: "a:65536"`, `brokers: "a:http"`, `brokers: "a:-1"`,
		`pprof_addr: ":99999": port 99999 is not a number from 0 to 65535`} {
		if err == nil || !strings.Contains(err.Error(), bad) {
			t.Errorf("%s not reported: %v", bad, err)
		}
	}
	if n := strings.Count(err.Error(), "\n") + 1; n != 5 {
		t.Errorf("%d problems, want 5: %v", n, err)
	}
}

// Merge puts a component's keys under its section, keeps a keyless
// problem keyless, and flattens nested joins.
func TestMerge(t *testing.T) {
	var inner validate.Check
	inner.Require(false, "size", "must be positive")
	var c validate.Check
	c.Merge("window", errors.Join(inner.Err(), errors.New("no key")))
	c.Merge("", nil)
	got := validate.Fields(c.Err())
	if len(got) != 2 || *got[0] != (validate.FieldError{Key: "window.size", Reason: "must be positive"}) ||
		*got[1] != (validate.FieldError{Reason: "no key"}) {
		t.Errorf("got %v", c.Err())
	}
}

// Key reads the mapstructure tags down to the field, a squashed struct
// adding no part.
func TestKey(t *testing.T) {
	type tls struct {
		CAFile string `mapstructure:"ca_file"`
	}
	type conn struct {
		Brokers []string `mapstructure:"brokers"`
		TLS     tls      `mapstructure:"tls"`
	}
	type cfg struct {
		Conn  conn   `mapstructure:",squash"`
		Topic string `mapstructure:"topic"`
	}
	var c cfg
	for _, tc := range []struct {
		field any
		want  string
	}{{&c.Conn.TLS.CAFile, "tls.ca_file"}, {&c.Conn.Brokers, "brokers"}, {&c.Topic, "topic"}, {&c.Conn.TLS, "tls"}, {new(string), ""}} {
		if got := validate.Key(&c, tc.field); got != tc.want {
			t.Errorf("Key(%T) = %q, want %q", tc.field, got, tc.want)
		}
	}
	if got := validate.Keys(&c, &c.Topic, &c.Conn.Brokers); got != "topic, brokers" {
		t.Errorf("Keys = %q", got)
	}
}
