package main

import (
	"bytes"
	"runtime"
	"strings"
	"testing"
)

// TestRunExitCodes covers the exit codes that need no Kafka: 0 for --help,
// 2 for a bad configuration (one message, every bad key), 1 when Kafka does
// not answer within kafka.startup_timeout.
func TestRunExitCodes(t *testing.T) {
	var out bytes.Buffer
	if code := run([]string{"--help"}, nil, &out, &out); code != 0 || !strings.Contains(out.String(), "--kafka.brokers") {
		t.Errorf("--help: exit %d\n%s", code, out.String())
	}

	out.Reset()
	code := run([]string{"--rate=-1"}, []string{"PRODUCER_KAFKA_COMPRESSION=brotli", "PRODUCER_GENERATOR_JITTER=-1s"}, &out, &out)
	if code != 2 {
		t.Errorf("bad config: exit %d, want 2", code)
	}
	msg := out.String()
	for _, key := range []string{"rate (PRODUCER_RATE)", "kafka.compression (PRODUCER_KAFKA_COMPRESSION)", "generator.jitter (PRODUCER_GENERATOR_JITTER)"} {
		if !strings.Contains(msg, key) {
			t.Errorf("bad config message does not name %s:\n%s", key, msg)
		}
	}
	if strings.Count(msg, "invalid configuration") != 1 {
		t.Errorf("want one message:\n%s", msg)
	}

	out.Reset()
	code = run(nil, []string{"PRODUCER_KAFKA_BROKERS=127.0.0.1:1", "PRODUCER_KAFKA_STARTUP_TIMEOUT=1s", "PRODUCER_HTTP_ADDR=127.0.0.1:0"}, &out, &out)
	if code != 1 || !strings.Contains(out.String(), "start-up failed") || !strings.Contains(out.String(), "127.0.0.1:1") {
		t.Errorf("no Kafka: exit %d, want 1\n%s", code, out.String())
	}
}

// --help and --version answer on stdout and exit 0: `vehicle-producer
// --help | less` works. A true/false flag works bare, and a word after it
// is refused rather than taken as its value.
func TestRunHelpAndVersion(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run([]string{"--help"}, nil, &stdout, &stderr); code != 0 || !strings.Contains(stdout.String(), "--kafka.brokers strings") ||
		!strings.Contains(stdout.String(), "--rate float") || !strings.Contains(stdout.String(), "--version") || stderr.Len() != 0 {
		t.Errorf("--help: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout.String(), stderr.String())
	}
	stdout.Reset()
	version, commit = "v9.9.9", "abc1234"
	t.Cleanup(func() { version, commit = "dev", "" })
	if code := run([]string{"--version"}, nil, &stdout, &stderr); code != 0 ||
		!strings.Contains(stdout.String(), "vehicle-producer v9.9.9 (commit abc1234, "+runtime.Version()) || stderr.Len() != 0 {
		t.Errorf("--version: exit %d\nstdout: %s\nstderr: %s", code, stdout.String(), stderr.String())
	}
	stdout.Reset()
	if code := run([]string{"--http.pprof", "false"}, nil, &stdout, &stderr); code != 2 || !strings.Contains(stderr.String(), `unexpected argument "false"`) {
		t.Errorf("--http.pprof false: exit %d\n%s", code, stderr.String())
	}
}
