// Package local_test checks the shell helpers of deploy/local and the
// Makefile's help, as a user meets them: through bash and make.
package local_test

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vehicle-stats/vehicle-stats/internal/testenv"
)

// bash runs script with progress.sh sourced, PROGRESS_EVERY=1 and args as
// $1...; stderr is streamed to lines.
func bash(t *testing.T, script string, args ...string) (cmd *exec.Cmd, stdout *strings.Builder, lines <-chan string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	lib := filepath.Join(testenv.RepoRoot(t), "deploy", "local", "progress.sh")
	cmd = exec.CommandContext(ctx, "bash", append([]string{"-c", `set -euo pipefail; lib=$1; shift; source "$lib"; PROGRESS_EVERY=1; ` + script, "bash", lib}, args...)...)
	stdout = &strings.Builder{}
	cmd.Stdout = stdout
	errPipe, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ch := make(chan string, 100)
	go func() {
		defer close(ch)
		sc := bufio.NewScanner(errPipe)
		for sc.Scan() {
			ch <- sc.Text()
		}
	}()
	return cmd, stdout, ch
}

// until reads lines until one matches re, and returns it with those before.
func until(t *testing.T, lines <-chan string, re string) []string {
	t.Helper()
	var seen []string
	for l := range lines {
		seen = append(seen, l)
		if regexp.MustCompile(re).MatchString(l) {
			return seen
		}
	}
	t.Fatalf("no line matches %q; stderr:\n%s", re, strings.Join(seen, "\n"))
	return nil
}

func rest(lines <-chan string) []string {
	var out []string
	for l := range lines {
		out = append(out, l)
	}
	return out
}

// progress says what runs and how long it usually takes, ticks while it
// runs, and leaves the command's stdout and exit status alone. The command
// here ends only once it has seen a tick, so no timing is assumed.
func TestProgress(t *testing.T) {
	dir := t.TempDir()
	cmd, stdout, lines := bash(t, `progress "resolving things" "about 2 min" --size "$1" -- bash -c 'until [ -e "$1/ticked" ]; do sleep 0.1; done; echo result; exit 3' _ "$1"`, dir)
	first := until(t, lines, `^resolving things`)
	if first[0] != "resolving things (usually about 2 min) ..." {
		t.Errorf("announcement: %q", first[0])
	}
	until(t, lines, `^  \.\.\. [0-9]+ s, `+regexp.QuoteMeta(dir)+` [0-9]+ MB$`)
	if err := exec.Command("touch", filepath.Join(dir, "ticked")).Run(); err != nil {
		t.Fatal(err)
	}
	end := until(t, lines, `^resolving things: `)
	rest(lines)
	err := cmd.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 3 || stdout.String() != "result\n" {
		t.Errorf("exit %v, stdout %q; want 3 and the command's output", err, stdout.String())
	}
	if last := end[len(end)-1]; !strings.HasPrefix(last, "resolving things: failed after ") {
		t.Errorf("last line %q", last)
	}
}

// wait_ready returns only once /readyz answers 200, saying meanwhile what
// the service answers; it fails when the service's process is gone.
func TestWaitReady(t *testing.T) {
	var ready atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !ready.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = io.WriteString(w, `{"failing":{"kafka":"connection refused"}}`)
			return
		}
		_, _ = io.WriteString(w, `{"status":"ready"}`)
	}))
	defer srv.Close()

	cmd, _, lines := bash(t, `wait_ready 600 svc $$ "$1"; echo "URLs now" >&2`, srv.URL+"/readyz")
	until(t, lines, `^  \.\.\. [0-9]+ s: svc not ready yet: \{"failing":\{"kafka":"connection refused"\}\}`)
	ready.Store(true)
	got := until(t, lines, `^URLs now$`)
	if !strings.HasPrefix(got[len(got)-2], "svc is ready (") {
		t.Errorf("the URLs came before the service was ready:\n%s", strings.Join(got, "\n"))
	}
	rest(lines)
	if err := cmd.Wait(); err != nil {
		t.Errorf("wait_ready: %v", err)
	}

	// A service that exits never gets ready: no waiting out the timeout.
	gone := exec.Command("true")
	if err := gone.Run(); err != nil {
		t.Fatal(err)
	}
	cmd, _, lines = bash(t, `wait_ready 600 svc `+strconv.Itoa(gone.Process.Pid)+` "$1"`, srv.URL+"/readyz")
	until(t, lines, `^svc exited before it was ready$`)
	rest(lines)
	if err := cmd.Wait(); err == nil {
		t.Error("wait_ready succeeded for an exited service")
	}
}

// make bench-compare rewrites the tracked docs page only when DOC names
// it (--dry-run prints what a run would do, before it needs the stack).
func TestBenchCompareLeavesDocs(t *testing.T) {
	run := func(env ...string) string {
		cmd := exec.Command("bench/compare/run.sh", "--dry-run")
		cmd.Dir = testenv.RepoRoot(t)
		cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, env...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%v:\n%s", err, out)
		}
		return string(out)
	}
	if out := run(); !strings.Contains(out, "table: out/bench-compare/<run>/table.md only") {
		t.Errorf("without DOC:\n%s", out)
	}
	if out := run("DOC=docs/benchmarks-compare.md"); !strings.Contains(out, "table: out/bench-compare/<run>/table.md and docs/benchmarks-compare.md") {
		t.Errorf("with DOC:\n%s", out)
	}
}

// make help lists every target once, under its purpose, sorted.
func TestMakeHelp(t *testing.T) {
	root := testenv.RepoRoot(t)
	out, err := exec.Command("make", "-s", "-C", root, "help").Output()
	if err != nil {
		t.Fatal(err)
	}
	help := string(out)
	var groups []string
	targets := map[string]string{} // target -> group
	group := ""
	var inGroup []string
	for _, l := range strings.Split(help, "\n") {
		switch {
		case strings.HasSuffix(l, ":") && !strings.HasPrefix(l, " "):
			if !sortedStrings(inGroup) {
				t.Errorf("%s: not sorted: %v", group, inGroup)
			}
			group, inGroup = strings.TrimSuffix(l, ":"), nil
			groups = append(groups, group)
		case strings.HasPrefix(l, "  "):
			name := strings.Fields(l)[0]
			if _, dup := targets[name]; dup {
				t.Errorf("%s listed twice", name)
			}
			targets[name] = group
			inGroup = append(inGroup, name)
		}
	}
	if !sortedStrings(inGroup) {
		t.Errorf("%s: not sorted: %v", group, inGroup)
	}
	if want := "run test bench docker housekeeping"; strings.Join(groups, " ") != want {
		t.Errorf("groups %v, want %s:\n%s", groups, want, help)
	}
	for name, g := range map[string]string{"run": "run", "test": "test", "bench-compare": "bench", "test-docker": "docker", "up": "docker", "lint": "housekeeping"} {
		if targets[name] != g {
			t.Errorf("%s under %q, want %q", name, targets[name], g)
		}
	}
	// The long ones say how long.
	for _, name := range []string{"test", "test-docker", "bench-compare", "bench-latency", "soak", "up"} {
		line := regexp.MustCompile(`(?m)^  ` + name + ` +.*$`).FindString(help)
		if !regexp.MustCompile(`[0-9]+ min`).MatchString(line) {
			t.Errorf("%s gives no duration: %q", name, line)
		}
	}
}

func sortedStrings(s []string) bool {
	for i := 1; i < len(s); i++ {
		if s[i-1] > s[i] {
			return false
		}
	}
	return true
}
