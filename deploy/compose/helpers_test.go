package compose_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/vehicle-stats/vehicle-stats/internal/testenv"
)

// goServices are the services of docker-compose.yml that this repository
// builds, with the environment prefix of each.
var goServices = map[string]string{
	"vehicle-producer": "PRODUCER_",
	"stats-processor":  "PROCESSOR_",
}

// composeFile is the part of docker-compose.yml the tests read; other keys
// are ignored.
type composeFile struct {
	Name     string                    `yaml:"name"`
	Services map[string]composeService `yaml:"services"`
	Volumes  map[string]any            `yaml:"volumes"`
}

type composeService struct {
	Image         string         `yaml:"image"`
	Build         *composeBuild  `yaml:"build"`
	Command       []string       `yaml:"command"`
	Environment   envMap         `yaml:"environment"`
	Ports         []string       `yaml:"ports"`
	Volumes       []string       `yaml:"volumes"`
	Healthcheck   *composeHealth `yaml:"healthcheck"`
	DependsOn     dependsOn      `yaml:"depends_on"`
	ContainerName string         `yaml:"container_name"`
	Deploy        map[string]any `yaml:"deploy"`
	ReadOnly      bool           `yaml:"read_only"`
}

type composeBuild struct {
	Context    string            `yaml:"context"`
	Dockerfile string            `yaml:"dockerfile"`
	Args       map[string]string `yaml:"args"`
}

type composeHealth struct {
	Test        []string `yaml:"test"`
	Interval    string   `yaml:"interval"`
	Timeout     string   `yaml:"timeout"`
	Retries     int      `yaml:"retries"`
	StartPeriod string   `yaml:"start_period"`
	Disable     bool     `yaml:"disable"`
}

// envMap is a service's environment, written as a map or as a list of
// NAME=value.
type envMap map[string]string

func (e *envMap) UnmarshalYAML(n *yaml.Node) error {
	*e = envMap{}
	switch n.Kind {
	case yaml.MappingNode:
		var m map[string]string
		if err := n.Decode(&m); err != nil {
			return err
		}
		for k, v := range m {
			(*e)[k] = v
		}
	case yaml.SequenceNode:
		var l []string
		if err := n.Decode(&l); err != nil {
			return err
		}
		for _, kv := range l {
			k, v, _ := strings.Cut(kv, "=")
			(*e)[k] = v
		}
	default:
		return fmt.Errorf("environment: want a map or a list, got %v", n.Tag)
	}
	return nil
}

// dependsOn maps a dependency to its condition; the short list form has the
// implicit condition service_started.
type dependsOn map[string]string

func (d *dependsOn) UnmarshalYAML(n *yaml.Node) error {
	*d = dependsOn{}
	switch n.Kind {
	case yaml.MappingNode:
		var m map[string]struct {
			Condition string `yaml:"condition"`
		}
		if err := n.Decode(&m); err != nil {
			return err
		}
		for k, v := range m {
			(*d)[k] = v.Condition
		}
	case yaml.SequenceNode:
		var l []string
		if err := n.Decode(&l); err != nil {
			return err
		}
		for _, k := range l {
			(*d)[k] = "service_started"
		}
	default:
		return fmt.Errorf("depends_on: want a map or a list, got %v", n.Tag)
	}
	return nil
}

// repoFile returns the path of a file given relative to the repository root.
func repoFile(t testing.TB, rel string) string {
	t.Helper()
	return filepath.Join(testenv.RepoRoot(t), filepath.FromSlash(rel))
}

func readFile(t testing.TB, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(repoFile(t, rel))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func loadYAML(t testing.TB, rel string, v any) {
	t.Helper()
	if err := yaml.Unmarshal(readFile(t, rel), v); err != nil {
		t.Fatalf("%s: %v", rel, err)
	}
}

func loadCompose(t testing.TB) composeFile {
	t.Helper()
	var c composeFile
	loadYAML(t, "docker-compose.yml", &c)
	if len(c.Services) == 0 {
		t.Fatal("docker-compose.yml has no services")
	}
	return c
}

var reInterpolation = regexp.MustCompile(`\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?+])([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)`)

// interpolate does what compose does to a value: $$ is a dollar, ${VAR},
// ${VAR:-default}, ${VAR-default}, ${VAR:+alt}, ${VAR:?error} and $VAR take
// their value from env.
func interpolate(s string, env map[string]string) string {
	return reInterpolation.ReplaceAllStringFunc(s, func(m string) string {
		if m == "$$" {
			return "$"
		}
		g := reInterpolation.FindStringSubmatch(m)
		name, op, arg := g[1], g[2], g[3]
		if name == "" {
			name = g[4]
		}
		v, set := env[name]
		switch op {
		case ":-":
			if v == "" {
				return arg
			}
		case "-":
			if !set {
				return arg
			}
		case ":+":
			if v != "" {
				return arg
			}
			return ""
		case "+":
			if set {
				return arg
			}
			return ""
		}
		return v
	})
}

// composeEnv is the environment compose gives service, with every variable
// of the compose file at its default (an empty shell environment).
func composeEnv(t testing.TB, c composeFile, service string) map[string]string {
	t.Helper()
	s, ok := c.Services[service]
	if !ok {
		t.Fatalf("docker-compose.yml has no service %s", service)
	}
	env := map[string]string{}
	for k, v := range s.Environment {
		env[k] = interpolate(v, nil)
	}
	return env
}

// portMapping is one entry of a service's ports, interpolated.
type portMapping struct {
	HostIP, Host, Container string
}

func parsePort(t testing.TB, raw string) portMapping {
	t.Helper()
	s := interpolate(raw, nil)
	s, _, _ = strings.Cut(s, "/") // protocol
	parts := strings.Split(s, ":")
	switch len(parts) {
	case 1:
		return portMapping{Container: parts[0]}
	case 2:
		return portMapping{Host: parts[0], Container: parts[1]}
	case 3:
		return portMapping{HostIP: parts[0], Host: parts[1], Container: parts[2]}
	}
	t.Fatalf("port %q: cannot parse", raw)
	return portMapping{}
}

// binary builds one of the programs the compose file runs (vehicle-producer,
// stats-processor, healthcheck) from the working tree, so never stale,
// unlike bin/.
func binary(t testing.TB, name string) string {
	path := "./services/" + name
	if name == "healthcheck" {
		path = "./deploy/compose/healthcheck"
	}
	return testenv.Binary(t, path, false)
}

var reHelpEnv = regexp.MustCompile(`\(env ([A-Z][A-Z0-9_]*),`)

// knownEnv returns the environment variables a service reads, from its
// --help, which lists every configuration key with its variable.
func knownEnv(t testing.TB, service string) map[string]bool {
	t.Helper()
	cmd := exec.Command(binary(t, service), "--help")
	cmd.Dir = t.TempDir() // no configs/ here: --help must not depend on a file
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s --help: %v\n%s", service, err, out.String())
	}
	known := map[string]bool{}
	for _, m := range reHelpEnv.FindAllStringSubmatch(out.String(), -1) {
		known[m[1]] = true
	}
	if len(known) < 5 {
		t.Fatalf("%s --help lists only %d environment variables; has its format changed?\n%s", service, len(known), out.String())
	}
	return known
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
