package proc_test

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/vehicle-stats/vehicle-stats/internal/testenv/proc"
)

// TestToolsDoNotLinkDocker: the benchmark tools and the soak start the
// services through proc and scratch, which need no Docker client; only
// tests that fall back to testcontainers (testenv.Get) link it.
func TestToolsDoNotLinkDocker(t *testing.T) {
	cmd := exec.Command("go", "list", "-deps", "./bench/...")
	cmd.Dir = proc.RepoRoot(t)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps ./bench/...: %v\n%s", err, out)
	}
	for line := range strings.Lines(string(out)) {
		if strings.Contains(line, "testcontainers") {
			t.Errorf("a tool under bench/ links %s", strings.TrimSpace(line))
		}
	}
}

func TestProducerConfigEnv(t *testing.T) {
	got := proc.ProducerConfig{Brokers: []string{"a:1", "b:2"}, Topic: "in", Unpaced: true, Seed: 7, Extra: []string{"PRODUCER_LOG_LEVEL=warn"}}.Env()
	want := []string{"PRODUCER_KAFKA_BROKERS=a:1,b:2", "PRODUCER_KAFKA_TOPIC=in", "PRODUCER_RATE=0", "PRODUCER_SEED=7", "PRODUCER_LOG_LEVEL=warn"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("Env() = %v, want %v", got, want)
	}
}
