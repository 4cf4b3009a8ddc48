package compose_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/vehicle-stats/vehicle-stats/internal/testenv"
	"github.com/vehicle-stats/vehicle-stats/internal/testenv/proc"
)

const (
	dashboardFile = "deploy/compose/grafana/dashboards/vehicle-stats.json"
	// dashboardDatasourceUID is the uid of the provisioned Prometheus data
	// source, which every panel names.
	dashboardDatasourceUID = "prometheus"
)

type dashboard struct {
	UID        string      `json:"uid"`
	Title      string      `json:"title"`
	Panels     []dashPanel `json:"panels"`
	Templating struct {
		List []struct {
			Name    string `json:"name"`
			Query   string `json:"query"`
			Current struct {
				Value any `json:"value"`
			} `json:"current"`
		} `json:"list"`
	} `json:"templating"`
}

type dashDatasource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type dashPanel struct {
	ID          int            `json:"id"`
	Type        string         `json:"type"`
	Title       string         `json:"title"`
	Description string         `json:"description"`
	Datasource  dashDatasource `json:"datasource"`
	GridPos     struct {
		X, Y, W, H int
	} `json:"gridPos"`
	Targets []struct {
		RefID        string         `json:"refId"`
		Expr         string         `json:"expr"`
		LegendFormat string         `json:"legendFormat"`
		Datasource   dashDatasource `json:"datasource"`
	} `json:"targets"`
	Panels []dashPanel `json:"panels"` // of a collapsed row
}

// dashQuery is one PromQL query of the dashboard.
type dashQuery struct {
	Panel, Expr, Legend string
}

func loadDashboard(t testing.TB) (dashboard, []dashQuery) {
	t.Helper()
	var d dashboard
	dec := json.NewDecoder(bytes.NewReader(readFile(t, dashboardFile)))
	if err := dec.Decode(&d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	var qs []dashQuery
	var walk func([]dashPanel)
	walk = func(ps []dashPanel) {
		for _, p := range ps {
			for _, tg := range p.Targets {
				qs = append(qs, dashQuery{Panel: p.Title, Expr: tg.Expr, Legend: tg.LegendFormat})
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	return d, qs
}

var (
	rePromString   = regexp.MustCompile(`"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|` + "`[^`]*`")
	rePromMatchers = regexp.MustCompile(`\{[^}]*\}`)
	rePromRange    = regexp.MustCompile(`\[[^\]]*\]`)
	rePromGrouping = regexp.MustCompile(`\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)`)
	rePromIdent    = regexp.MustCompile(`[A-Za-z_:][A-Za-z0-9_:]*`)
	reLegendLabel  = regexp.MustCompile(`\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}`)
	promKeywords   = map[string]bool{
		"and": true, "or": true, "unless": true, "by": true, "without": true, "on": true, "ignoring": true,
		"group_left": true, "group_right": true, "offset": true, "bool": true, "inf": true, "nan": true,
		"Inf": true, "NaN": true, "atan2": true,
	}
)

// promNames returns the metric names a PromQL expression selects and the
// labels it groups by. It is a tokenizer, not a parser: enough for the
// dashboard's queries (strings, label matchers and ranges are dropped, a
// name followed by "(" is a function).
func promNames(expr string) (metrics, labels []string) {
	s := rePromString.ReplaceAllString(expr, `""`)
	s = rePromMatchers.ReplaceAllString(s, " ")
	s = rePromRange.ReplaceAllString(s, " ")
	for _, m := range rePromGrouping.FindAllStringSubmatch(s, -1) {
		for _, l := range strings.Split(m[1], ",") {
			if l = strings.TrimSpace(l); l != "" {
				labels = append(labels, l)
			}
		}
	}
	s = rePromGrouping.ReplaceAllString(s, " ")
	for _, loc := range rePromIdent.FindAllStringIndex(s, -1) {
		id := s[loc[0]:loc[1]]
		if loc[0] > 0 && (s[loc[0]-1] >= '0' && s[loc[0]-1] <= '9' || s[loc[0]-1] == '.' || s[loc[0]-1] == '$') {
			continue // the exponent of a number, or a Grafana variable
		}
		if promKeywords[id] || strings.HasPrefix(strings.TrimLeft(s[loc[1]:], " \t\n"), "(") {
			continue
		}
		if !slices.Contains(metrics, id) {
			metrics = append(metrics, id)
		}
	}
	return metrics, labels
}

func TestPromNames(t *testing.T) {
	tests := []struct {
		expr            string
		metrics, labels []string
	}{
		{`sum by (type) (rate(stats_processor_events_total[$__rate_interval]))`, []string{"stats_processor_events_total"}, []string{"type"}},
		{`count(up{job="stats-processor"} == 1) or vector(0)`, []string{"up"}, nil},
		{`histogram_quantile(0.99, sum by (le) (rate(x_bucket{a="b,c"}[5m])))`, []string{"x_bucket"}, []string{"le"}},
		{`sum(rate(a_sum[1m])) / sum without (instance, job) (rate(a_count[1m])) * 1e3`, []string{"a_sum", "a_count"}, []string{"instance", "job"}},
		{`increase(c_total[$window]) > bool 2`, []string{"c_total"}, nil},
	}
	for _, tt := range tests {
		m, l := promNames(tt.expr)
		if !slices.Equal(m, tt.metrics) || !slices.Equal(l, tt.labels) {
			t.Errorf("promNames(%q) = %v, %v; want %v, %v", tt.expr, m, l, tt.metrics, tt.labels)
		}
	}
}

// TestDashboard: the dashboard parses, lays out on Grafana's 24-column grid
// without overlaps, queries the provisioned data source, uses only the
// services' metrics, and covers what issue 6 asks for.
func TestDashboard(t *testing.T) {
	d, queries := loadDashboard(t)
	if d.UID == "" || d.Title == "" || len(d.Panels) == 0 {
		t.Fatalf("dashboard uid %q, title %q, %d panels", d.UID, d.Title, len(d.Panels))
	}
	ids := map[int]string{}
	for i, p := range d.Panels {
		if prev, ok := ids[p.ID]; ok || p.ID == 0 {
			t.Errorf("panel %q: id %d is zero or also %q's", p.Title, p.ID, prev)
		}
		ids[p.ID] = p.Title
		g := p.GridPos
		if g.W <= 0 || g.H <= 0 || g.X < 0 || g.X+g.W > 24 {
			t.Errorf("panel %q: gridPos %+v does not fit 24 columns", p.Title, g)
		}
		for _, q := range d.Panels[:i] {
			h := q.GridPos
			if g.X < h.X+h.W && h.X < g.X+g.W && g.Y < h.Y+h.H && h.Y < g.Y+g.H {
				t.Errorf("panels %q and %q overlap", q.Title, p.Title)
			}
		}
		if p.Type == "row" {
			continue
		}
		if p.Datasource.UID != dashboardDatasourceUID || len(p.Targets) == 0 {
			t.Errorf("panel %q: data source %+v and %d queries; want uid %q and a query", p.Title, p.Datasource, len(p.Targets), dashboardDatasourceUID)
		}
		for _, tg := range p.Targets {
			if tg.Datasource.UID != "" && tg.Datasource.UID != dashboardDatasourceUID {
				t.Errorf("panel %q query %s: data source %q", p.Title, tg.RefID, tg.Datasource.UID)
			}
		}
		if p.Description == "" {
			t.Errorf("panel %q has no description", p.Title)
		}
	}

	used := map[string]bool{}
	for _, q := range queries {
		metrics, _ := promNames(q.Expr)
		if len(metrics) == 0 {
			t.Errorf("panel %q: query %q selects no metric", q.Panel, q.Expr)
		}
		for _, m := range metrics {
			used[m] = true
			if m != "up" && !strings.HasPrefix(m, "stats_processor_") && !strings.HasPrefix(m, "vehicle_producer_") {
				t.Errorf("panel %q: %s is not a metric of the services", q.Panel, m)
			}
		}
	}
	for _, m := range []string{
		"stats_processor_events_total", "stats_processor_watermark_lag_seconds", "stats_processor_consumer_lag",
		"stats_processor_dead_letters_total", "stats_processor_late_events_total",
		"stats_processor_checkpoint_duration_seconds_bucket", "vehicle_producer_events_sent_total",
		// What docs/operations.md reads (issue 24).
		"stats_processor_offset_beyond_log_end", "stats_processor_fetch_redials_total",
		"stats_processor_partition_watermark_timestamp_seconds", "stats_processor_partition_idle",
		"stats_processor_redis_command_duration_seconds_bucket", "stats_processor_redis_pool_connections",
		"stats_processor_output_write_duration_seconds_bucket", "stats_processor_build_info", "vehicle_producer_build_info",
	} {
		if !used[m] {
			t.Errorf("no panel shows %s", m)
		}
	}
	var byType, latest, byReason bool
	for _, q := range queries {
		byReason = byReason || strings.Contains(q.Expr, "by (reason) (rate(stats_processor_dead_letters_total")
		byType = byType || strings.Contains(q.Expr, "by (type) (rate(stats_processor_events_total")
		latest = latest || strings.Contains(q.Expr, "increase(stats_processor_events_total[$window])")
	}
	if !byType || !latest || !byReason {
		t.Errorf("want events/s by type (%v), the latest window's counts by type (%v) and dead letters/s by reason (%v)", byType, latest, byReason)
	}

	// $window defaults to the processor's window size in compose.
	want := composeEnv(t, loadCompose(t), "stats-processor")["PROCESSOR_WINDOW_SIZE"]
	if want == "" {
		want = "20s"
	}
	var found bool
	for _, v := range d.Templating.List {
		if v.Name == "window" {
			found = true
			if v.Current.Value != want {
				t.Errorf("$window defaults to %v, want the window size %s", v.Current.Value, want)
			}
		}
	}
	if !found {
		t.Error("the dashboard has no $window variable")
	}
}

// TestIntegrationDashboardMetrics runs both services as compose configures
// them (its environment, with the addresses, topics and key prefix made this
// test's own) against the local Kafka and Redis, checks them healthy with
// the very health checks compose runs, lets events flow, and checks that
// every metric and label the dashboard queries is in their /metrics.
func TestIntegrationDashboardMetrics(t *testing.T) {
	env := testenv.Get(t)
	c := loadCompose(t)

	input := env.Topic(t, "dash-vehicles", 3)
	_, prefix := env.Redis(t)
	output, dead, late := testenv.UniqueName("dash-stats"), testenv.UniqueName("dash-dead"), testenv.UniqueName("dash-late")
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		kc := &kafka.Client{Addr: kafka.TCP(env.Brokers...)}
		if _, err := kc.DeleteTopics(ctx, &kafka.DeleteTopicsRequest{Topics: []string{output, dead, late}}); err != nil {
			t.Logf("delete topics: %v", err)
		}
	})
	procAddr := fmt.Sprintf("127.0.0.1:%d", testenv.Port(t))
	prodAddr := fmt.Sprintf("127.0.0.1:%d", testenv.Port(t))

	procEnv := composeEnv(t, c, "stats-processor")
	overrides := proc.ProcessorConfig{Brokers: env.Brokers, RedisAddr: env.RedisAddr, KeyPrefix: prefix, Input: input,
		Output: output, DeadLetter: dead, Late: late, Group: testenv.UniqueName("dash-group"), HTTPAddr: procAddr}
	for _, kv := range overrides.Env() {
		k, v, _ := strings.Cut(kv, "=")
		procEnv[k] = v
	}
	prodEnv := composeEnv(t, c, "vehicle-producer")
	for _, kv := range (proc.ProducerConfig{Brokers: env.Brokers, Topic: input, HTTPAddr: prodAddr}).Env() {
		k, v, _ := strings.Cut(kv, "=")
		prodEnv[k] = v
	}
	processor := startService(t, "stats-processor", procEnv)
	prod := startService(t, "vehicle-producer", prodEnv)

	waitHealthy(t, c, processor, procEnv)
	waitHealthy(t, c, prod, prodEnv)

	// Events flow: the producer has sent some, the processor counted some and
	// owns partitions (so the per-partition lag is exported).
	var procM, prodM scrapeResult
	deadline := time.Now().Add(90 * time.Second)
	for {
		procM, prodM = scrape(t, "http://"+procAddr+"/metrics"), scrape(t, "http://"+prodAddr+"/metrics")
		if procM.sum["stats_processor_events_total"] > 0 && prodM.sum["vehicle_producer_events_sent_total"] > 0 &&
			procM.labels["stats_processor_consumer_lag"] != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no events counted within 90 s: processor counted %v, producer sent %v, consumer_lag exported: %v\nprocessor log:\n%s\nproducer log:\n%s",
				procM.sum["stats_processor_events_total"], prodM.sum["vehicle_producer_events_sent_total"],
				procM.labels["stats_processor_consumer_lag"] != nil, processor.tail(), prod.tail())
		}
		processor.checkRunning(t)
		prod.checkRunning(t)
		time.Sleep(500 * time.Millisecond)
	}
	t.Logf("processor counted %.0f events, producer sent %.0f", procM.sum["stats_processor_events_total"], prodM.sum["vehicle_producer_events_sent_total"])

	exported := scrapeResult{labels: map[string]map[string]bool{}}
	for _, r := range []scrapeResult{procM, prodM} {
		for name, ls := range r.labels {
			exported.labels[name] = ls
		}
	}
	// Prometheus adds up, instance and job itself.
	exported.labels["up"] = map[string]bool{}
	_, queries := loadDashboard(t)
	for _, q := range queries {
		metrics, grouping := promNames(q.Expr)
		labels := map[string]bool{"instance": true, "job": true}
		for _, m := range metrics {
			ls, ok := exported.labels[m]
			if !ok {
				// A classic histogram is exported as name_bucket, _sum and _count.
				ls, ok = exported.labels[m+"_bucket"]
			}
			if !ok {
				t.Errorf("panel %q: the services do not export %s (query %s)", q.Panel, m, q.Expr)
			}
			for l := range ls {
				labels[l] = true
			}
		}
		for _, m := range reLegendLabel.FindAllStringSubmatch(q.Legend, -1) {
			grouping = append(grouping, m[1])
		}
		for _, l := range grouping {
			if !labels[l] {
				t.Errorf("panel %q: label %q is on none of %v (query %s, legend %q)", q.Panel, l, metrics, q.Expr, q.Legend)
			}
		}
	}

	// docker compose stop sends SIGTERM: both stop cleanly, within the grace
	// period compose gives them.
	for _, s := range []*service{prod, processor} {
		if code := s.stop(t, 40*time.Second); code != 0 {
			t.Errorf("%s exited %d after SIGTERM, want 0\n%s", s.name, code, s.tail())
		}
	}
}

// service is a running service binary.
type service struct {
	name string
	proc *proc.Process
}

// startService runs a service from the repository root (so it reads
// configs/<service>.yaml as the image does from /app) with only env and PATH.
func startService(t *testing.T, name string, env map[string]string) *service {
	t.Helper()
	var vars []string
	for _, k := range sortedKeys(env) {
		vars = append(vars, k+"="+env[k])
	}
	p, err := proc.StartProcess(name, binary(t, name), proc.Launch{Env: vars, Clean: true, Dir: repoFile(t, ".")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Kill)
	return &service{name: name, proc: p}
}

// tail is the end of the service's output, for failure messages.
func (s *service) tail() string { return s.proc.Tail(60) }

func (s *service) checkRunning(t *testing.T) {
	t.Helper()
	select {
	case <-s.proc.Done():
		t.Fatalf("%s exited: %v\n%s", s.name, s.proc.Err(), s.tail())
	default:
	}
}

// stop sends SIGTERM and returns the exit code.
func (s *service) stop(t *testing.T, grace time.Duration) int {
	t.Helper()
	if err := s.proc.Stop(grace); errors.Is(err, proc.ErrNotStopped) {
		t.Errorf("%v", err)
		return -1
	}
	return s.proc.ExitCode()
}

// waitHealthy runs the compose health check of the service (its test, with
// the image's /app/healthcheck replaced by the one built here and the
// service's environment) until it passes.
func waitHealthy(t *testing.T, c composeFile, s *service, env map[string]string) {
	t.Helper()
	hc := c.Services[s.name].Healthcheck
	if hc == nil || len(hc.Test) < 2 || hc.Test[0] != "CMD" || hc.Test[1] != "/app/healthcheck" {
		t.Fatalf("%s: health check %v is not the image's /app/healthcheck", s.name, hc)
	}
	args := hc.Test[2:]
	deadline := time.Now().Add(60 * time.Second)
	for {
		cmd := exec.Command(binary(t, "healthcheck"), args...)
		cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
		for k, v := range env {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
		out, err := cmd.CombinedOutput()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s is not healthy after 60 s: %v %s\n%s", s.name, err, out, s.tail())
		}
		s.checkRunning(t)
		time.Sleep(500 * time.Millisecond)
	}
}

// scrapeResult is what one /metrics answer holds: the label names of each
// sample name, and the sum of each name's samples.
type scrapeResult struct {
	labels map[string]map[string]bool
	sum    map[string]float64
}

// scrape reads the Prometheus text format.
func scrape(t *testing.T, url string) scrapeResult {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	r := scrapeResult{labels: map[string]map[string]bool{}, sum: map[string]float64{}}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		name, labels, rest, err := parseSample(line)
		if err != nil {
			t.Fatalf("GET %s: %v", url, err)
		}
		if r.labels[name] == nil {
			r.labels[name] = map[string]bool{}
		}
		for _, l := range labels {
			r.labels[name][l] = true
		}
		if f := strings.Fields(rest); len(f) > 0 {
			if v, err := strconv.ParseFloat(f[0], 64); err == nil {
				r.sum[name] += v
			}
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return r
}

// parseSample splits `name{a="x",b="y"} value` into the name, the label
// names and what follows.
func parseSample(line string) (name string, labels []string, rest string, err error) {
	i := strings.IndexAny(line, "{ ")
	if i <= 0 {
		return "", nil, "", fmt.Errorf("bad sample %q", line)
	}
	name, rest = line[:i], line[i:]
	if rest[0] != '{' {
		return name, nil, rest, nil
	}
	rest = rest[1:]
	for {
		rest = strings.TrimLeft(rest, " ,")
		if strings.HasPrefix(rest, "}") {
			return name, labels, rest[1:], nil
		}
		eq := strings.Index(rest, "=\"")
		if eq <= 0 {
			return "", nil, "", fmt.Errorf("bad labels in %q", line)
		}
		labels = append(labels, strings.TrimSpace(rest[:eq]))
		rest = rest[eq+2:]
		// The value ends at the first quote not escaped by a backslash.
		j := 0
		for ; j < len(rest) && rest[j] != '"'; j++ {
			if rest[j] == '\\' {
				j++
			}
		}
		if j >= len(rest) {
			return "", nil, "", fmt.Errorf("unterminated label value in %q", line)
		}
		rest = rest[j+1:]
	}
}

func TestParseSample(t *testing.T) {
	name, labels, rest, err := parseSample(`a_total{type="CAR",x="q\"},{"} 12 1700000000`)
	if err != nil || name != "a_total" || !slices.Equal(labels, []string{"type", "x"}) || strings.TrimSpace(rest) != "12 1700000000" {
		t.Errorf("parseSample = %q %v %q %v", name, labels, rest, err)
	}
	if name, labels, rest, err = parseSample("up 1"); err != nil || name != "up" || labels != nil || rest != " 1" {
		t.Errorf("parseSample = %q %v %q %v", name, labels, rest, err)
	}
}
