package proc

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// RepoRoot is the folder holding go.mod, found upwards from the test's
// working directory.
func RepoRoot(t testing.TB) string {
	t.Helper()
	dir, err := FindRepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// FindRepoRoot is the folder holding go.mod, found upwards from the working
// directory.
func FindRepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory: run from inside the repository")
		}
		dir = parent
	}
}

var (
	binMu    sync.Mutex
	binCache = map[string]string{}
)

// Binary builds the main package at path (relative to the repository root,
// e.g. "./services/stats-processor") once per test binary, with the race
// detector when race is set (else statically, CGO_ENABLED=0), and returns
// the executable's path. The tests run the real program, as users do.
func Binary(t testing.TB, path string, race bool) string {
	t.Helper()
	key := fmt.Sprintf("%s race=%v", path, race)
	binMu.Lock()
	defer binMu.Unlock()
	if bin, ok := binCache[key]; ok {
		return bin
	}
	root := RepoRoot(t)
	// A fixed folder under the repository's ignored out/, overwritten by each
	// run, so repeated runs leave nothing behind.
	dir := filepath.Join(root, "out", "test-bin")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	// One file per test package: packages run in parallel processes, and
	// one must not overwrite a binary another is running.
	wd, _ := os.Getwd()
	name := filepath.Base(path) + "-for-" + filepath.Base(wd)
	if race {
		name += "-race"
	}
	bin := filepath.Join(dir, name)
	args := []string{"build", "-ldflags", "-X main.version=test", "-o", bin}
	env := os.Environ()
	if race {
		args = append(args, "-race") // needs cgo
	} else {
		env = append(env, "CGO_ENABLED=0") // static, as `make build` and the images build it
	}
	// Twice at most: a build cache that another go command trims at the
	// same moment can fail one build ("could not import ..."); a real
	// compile error fails both.
	var out []byte
	var err error
	for range 2 {
		cmd := exec.Command("go", append(args, path)...)
		cmd.Dir = root
		cmd.Env = env
		if out, err = cmd.CombinedOutput(); err == nil {
			binCache[key] = bin
			return bin
		}
	}
	t.Fatalf("go build %s: %v\n%s", path, err, out)
	return ""
}
