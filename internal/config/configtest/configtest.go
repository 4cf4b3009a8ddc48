// Package configtest holds the checks every service's configuration test
// makes, so that the services check their configuration alike.
package configtest

import (
	"bytes"
	"errors"
	"log/slog"
	"reflect"
	"strings"
	"testing"

	"github.com/vehicle-stats/vehicle-stats/internal/config"
)

// Defaults checks that load, with no YAML file, environment or flags (args
// nil; the test runs in its package folder, where configs/ does not exist),
// gives defaults, and that file, the service's YAML file that documents
// every key with its default value, gives exactly the defaults too.
func Defaults[T any](t *testing.T, defaults T, file string, load func(args []string) (T, error)) {
	t.Helper()
	cfg, err := load(nil)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(cfg, defaults) {
		t.Fatalf("built-in defaults: got %+v, want %+v", cfg, defaults)
	}
	cfg, err = load([]string{"--config", file})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(cfg, defaults) {
		t.Errorf("%s differs from the defaults:\n got %+v\nwant %+v", file, cfg, defaults)
	}
}

// Names checks that err is a *config.Error with one problem for each of
// keys and no other, each named in the message with its environment
// variable ("\n  key (PREFIX_KEY): ...").
func Names(t *testing.T, err error, keys ...string) {
	t.Helper()
	var ce *config.Error
	if !errors.As(err, &ce) {
		t.Fatalf("got %v, want a *config.Error", err)
	}
	msg := err.Error()
	for _, key := range keys {
		if !strings.Contains(msg, "\n  "+key+" (") {
			t.Errorf("the message does not name %s:\n%s", key, msg)
		}
	}
	if len(ce.Problems) != len(keys) {
		t.Errorf("%d problems, want %d:\n%s", len(ce.Problems), len(keys), msg)
	}
}

// Warns checks that warn logs, at level WARN, one warning for each of want
// and no other: a warning matches a want when its line (slog's text format:
// the message and the attributes) contains every one of its parts. With no
// want, warn must log no warning at all.
func Warns(t *testing.T, warn func(log *slog.Logger), want ...[]string) {
	t.Helper()
	var buf bytes.Buffer
	warn(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelWarn})))
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if buf.Len() == 0 {
		lines = nil
	}
	used := make([]bool, len(lines))
	for _, parts := range want {
		found := false
		for i, l := range lines {
			if !used[i] && containsAll(l, parts) {
				used[i], found = true, true
				break
			}
		}
		if !found {
			t.Errorf("no warning contains all of %q; the warnings:\n%s", parts, buf.String())
		}
	}
	for i, l := range lines {
		if !used[i] {
			t.Errorf("unexpected warning: %s", l)
		}
	}
}

func containsAll(s string, parts []string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}

// Keys checks that each key in lists (comma-separated, as an error's advice
// names them) is a key of cfg, a pointer to a configuration struct: a
// message naming a key to fix names one that exists.
func Keys(t *testing.T, cfg any, lists ...string) {
	t.Helper()
	var help bytes.Buffer
	_ = config.Load(cfg, config.Options{Service: "keys", Args: []string{"--help"}, Output: &help})
	for _, list := range lists {
		for _, k := range strings.Split(list, ", ") {
			if !strings.Contains(help.String(), "--"+k+" ") {
				t.Errorf("%q is not a key", k)
			}
		}
	}
}
