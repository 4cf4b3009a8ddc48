package prometheus_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/vehicle-stats/vehicle-stats/internal/testenv"
)

const (
	rulesFile = "deploy/prometheus/alerts.yml"
	runbook   = "docs/operations.md"
)

// alertRule is one alerting rule of alerts.yml.
type alertRule struct {
	Alert       string            `yaml:"alert"`
	Expr        string            `yaml:"expr"`
	For         string            `yaml:"for"`
	Labels      map[string]string `yaml:"labels"`
	Annotations map[string]string `yaml:"annotations"`
}

func loadRules(t testing.TB) []alertRule {
	t.Helper()
	var f struct {
		Groups []struct {
			Rules []alertRule `yaml:"rules"`
		} `yaml:"groups"`
	}
	b, err := os.ReadFile(filepath.Join(testenv.RepoRoot(t), rulesFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, &f); err != nil {
		t.Fatalf("%s: %v", rulesFile, err)
	}
	var rules []alertRule
	for _, g := range f.Groups {
		rules = append(rules, g.Rules...)
	}
	return rules
}

// promtool returns the path of promtool, or skips the test saying how to
// install it.
func promtool(t testing.TB) string {
	t.Helper()
	p, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool is not installed (make test installs it; Debian: apt-get install prometheus)")
	}
	return p
}

// TestAlertRules runs the rules' unit tests: every alert fires on one
// series and stays quiet on another (alerts_test.yml).
func TestAlertRules(t *testing.T) {
	cmd := exec.Command(promtool(t), "test", "rules", "alerts_test.yml")
	cmd.Dir = filepath.Join(testenv.RepoRoot(t), "deploy", "prometheus")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("promtool test rules: %v\n%s", err, out)
	}
	t.Logf("promtool test rules:\n%s", out)
}

var reHeading = regexp.MustCompile(`(?m)^###\s+(\S+)\s*$`)

// TestEveryAlertHasARunbook: every alert has a severity, a summary, a test
// that expects it to fire, and a section of docs/operations.md its runbook
// annotation points at.
func TestEveryAlertHasARunbook(t *testing.T) {
	rules := loadRules(t)
	if len(rules) == 0 {
		t.Fatalf("%s has no rules", rulesFile)
	}
	root := testenv.RepoRoot(t)
	doc, err := os.ReadFile(filepath.Join(root, runbook))
	if err != nil {
		t.Fatal(err)
	}
	sections := map[string]bool{}
	for _, m := range reHeading.FindAllStringSubmatch(string(doc), -1) {
		sections[m[1]] = true
	}
	tests, err := os.ReadFile(filepath.Join(root, "deploy", "prometheus", "alerts_test.yml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rules {
		if r.Alert == "" {
			continue // a recording rule
		}
		if sev := r.Labels["severity"]; sev != "critical" && sev != "warning" {
			t.Errorf("%s: severity %q, want critical or warning", r.Alert, sev)
		}
		if r.Annotations["summary"] == "" {
			t.Errorf("%s has no summary", r.Alert)
		}
		if want := runbook + "#" + strings.ToLower(r.Alert); r.Annotations["runbook"] != want {
			t.Errorf("%s: runbook annotation %q, want %q", r.Alert, r.Annotations["runbook"], want)
		}
		if !sections[r.Alert] {
			t.Errorf("%s has no section \"### %s\" in %s", r.Alert, r.Alert, runbook)
		}
		if !strings.Contains(string(tests), "alertname: "+r.Alert+"\n        exp_alerts:\n          - exp_labels") {
			t.Errorf("%s: no test in alerts_test.yml expects it to fire", r.Alert)
		}
	}
}
