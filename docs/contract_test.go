// The test here keeps docs/contract.md's configuration tables equal to what
// the binaries accept: outside tools configure the services from that page.
package docs_test

import (
	"bufio"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/vehicle-stats/vehicle-stats/internal/testenv"
)

// service is one binary and the heading of its own keys in the contract.
type service struct {
	path, heading, prefix string
}

var services = []service{
	{"./services/stats-processor", "stats-processor", "PROCESSOR_"},
	{"./services/vehicle-producer", "vehicle-producer", "PRODUCER_"},
}

// bothHeading is the contract's section of the keys every service has.
const bothHeading = "Both services"

// TestContractConfigurationMatchesHelp builds each service, runs it with
// --help, and fails on a key the contract lists that --help does not, a
// key --help lists that the contract does not, or a key whose environment
// variable differs between the two.
func TestContractConfigurationMatchesHelp(t *testing.T) {
	sections := contractKeys(t, "contract.md")
	if len(sections[bothHeading]) == 0 {
		t.Fatalf("contract.md: no table under '### %s'", bothHeading)
	}
	for _, s := range services {
		t.Run(s.heading, func(t *testing.T) {
			own := sections[s.heading]
			if len(own) == 0 {
				t.Fatalf("contract.md: no table under a '### %s' heading", s.heading)
			}
			want := map[string]string{} // key -> env variable, as the contract says
			for key, envs := range own {
				want[key] = pick(envs, s.prefix)
			}
			for key, envs := range sections[bothHeading] {
				want[key] = pick(envs, s.prefix)
			}
			got := helpKeys(t, testenv.Binary(t, s.path, false))
			for _, key := range sortedKeys(want) {
				env, ok := got[key]
				switch {
				case !ok:
					t.Errorf("contract.md lists %s, but %s --help does not: remove the row, or restore the key", key, s.heading)
				case env != want[key]:
					t.Errorf("%s: contract.md says its variable is %q, %s --help says %q", key, want[key], s.heading, env)
				}
			}
			for _, key := range sortedKeys(got) {
				if _, ok := want[key]; !ok {
					t.Errorf("%s --help lists %s (%s), but contract.md does not: add a row under '### %s' (or '### %s')", s.heading, key, got[key], s.heading, bothHeading)
				}
			}
		})
	}
}

var (
	// helpFlag finds a flag and its variable in a --help line:
	// "--kafka.brokers string   ... (env PROCESSOR_KAFKA_BROKERS, default ...)".
	helpFlag = regexp.MustCompile(`^\s*--([a-z0-9_.]+)\b.*\benv ([A-Z][A-Z0-9_]*)`)
	// tableRow finds a configuration row: | `key` | `ENV`[, `ENV`] | ...
	tableRow = regexp.MustCompile("^\\| `([a-z0-9_.]+)` \\| ([^|]+) \\|")
	envName  = regexp.MustCompile("`([A-Z][A-Z0-9_]*)`")
)

// helpKeys runs bin --help and returns each configuration key it lists
// with its environment variable. Flags without a variable (--config,
// --help, --version) are not configuration keys.
func helpKeys(t *testing.T, bin string) map[string]string {
	t.Helper()
	out, err := exec.Command(bin, "--help").CombinedOutput()
	if err != nil {
		t.Logf("%s --help: %v (its output is still read)", bin, err)
	}
	keys := map[string]string{}
	for line := range strings.Lines(string(out)) {
		if m := helpFlag.FindStringSubmatch(line); m != nil {
			keys[m[1]] = m[2]
		}
	}
	if len(keys) == 0 {
		t.Fatalf("%s --help lists no key with its variable; its output:\n%s", bin, out)
	}
	return keys
}

// contractKeys reads the tables under "## Configuration" of the contract:
// per "### " heading (up to its first '('), each key's variables.
func contractKeys(t *testing.T, file string) map[string]map[string][]string {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatalf("the contract: %v", err)
	}
	defer f.Close()
	sections := map[string]map[string][]string{}
	inConfig, heading := false, ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "## "):
			inConfig = line == "## Configuration"
			heading = ""
		case inConfig && strings.HasPrefix(line, "### "):
			heading, _, _ = strings.Cut(strings.TrimPrefix(line, "### "), " (")
			heading = strings.TrimSpace(heading)
		case inConfig && heading != "":
			m := tableRow.FindStringSubmatch(line)
			if m == nil {
				continue
			}
			if sections[heading] == nil {
				sections[heading] = map[string][]string{}
			}
			if _, dup := sections[heading][m[1]]; dup {
				t.Errorf("contract.md: %s listed twice under '### %s'", m[1], heading)
			}
			for _, e := range envName.FindAllStringSubmatch(m[2], -1) {
				sections[heading][m[1]] = append(sections[heading][m[1]], e[1])
			}
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return sections
}

// pick returns the variable of envs with the service's prefix.
func pick(envs []string, prefix string) string {
	for _, e := range envs {
		if strings.HasPrefix(e, prefix) {
			return e
		}
	}
	return "(none with " + prefix + ")"
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
