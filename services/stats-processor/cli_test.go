package main_test

import (
	"bytes"
	"os/exec"
	"runtime"
	"strings"
	"testing"

	"github.com/vehicle-stats/vehicle-stats/internal/testenv"
)

// TestCLI runs the built binary as a user would, without Kafka or Redis:
// --help and --version answer on stdout and exit 0, --help lists reset, and
// a bad --config is named as the flag it is.
func TestCLI(t *testing.T) {
	bin := testenv.Binary(t, "./services/stats-processor", false)
	run := func(args ...string) (stdout, stderr string, code int) {
		var out, errb bytes.Buffer
		cmd := exec.Command(bin, args...)
		cmd.Dir = t.TempDir() // no configs/ here: defaults
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return out.String(), errb.String(), code
	}

	out, errs, code := run("--help")
	if code != 0 || errs != "" || !strings.Contains(out, "stats-processor reset [--dry-run] [--yes] [flags]") ||
		!strings.Contains(out, "--window.size duration") || !strings.Contains(out, "--version") {
		t.Errorf("--help: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errs)
	}
	out, errs, code = run("reset", "--help")
	if code != 0 || errs != "" || !strings.Contains(out, "Usage: stats-processor reset") {
		t.Errorf("reset --help: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errs)
	}
	out, errs, code = run("--version")
	if code != 0 || errs != "" || !strings.HasPrefix(out, "stats-processor test (commit ") || !strings.Contains(out, runtime.Version()) {
		t.Errorf("--version: exit %d\nstdout: %s\nstderr: %s", code, out, errs)
	}
	_, errs, code = run("--config", "/nonexistent.yaml")
	if code != 2 || !strings.Contains(errs, "\n  --config: cannot read /nonexistent.yaml") || strings.Contains(errs, "PROCESSOR_--") {
		t.Errorf("--config: exit %d\n%s", code, errs)
	}
	// A bare bool does not swallow the next flag.
	_, errs, code = run("--http.pprof", "--window.size=20s", "--http.addr=:99999")
	if code != 2 || !strings.Contains(errs, "http.addr (PROCESSOR_HTTP_ADDR)") || strings.Contains(errs, "http.pprof (") {
		t.Errorf("bare bool: exit %d\n%s", code, errs)
	}
}
