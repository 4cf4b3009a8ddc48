package compose_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/vehicle-stats/vehicle-stats/internal/contracttest"
	"github.com/vehicle-stats/vehicle-stats/internal/testenv"
	"github.com/vehicle-stats/vehicle-stats/pkg/model"
)

// The composed processor's settings that the expectation depends on
// (docker-compose.yml and the contract's defaults); TestE2EComposeExactCounts
// reads them back from the compose file.
const (
	composeWindow    = 20 * time.Second
	composeMaxFuture = time.Hour
)

// TestE2EComposeExactCounts runs the compose file for real: it builds both
// service images from their Dockerfiles, starts everything (Grafana only when
// its image is here), waits until every health check passes, then checks
// exact counts of known data twice: with one processor, and with three while
// one is killed (SIGKILL) mid-stream. Prometheus must scrape every instance.
// `make test-docker` provides a Docker engine, Compose and the images, and
// sets VS_COMPOSE_E2E=1, without which the test is skipped (it takes
// minutes).
func TestE2EComposeExactCounts(t *testing.T) {
	if testing.Short() {
		t.Skip("compose end-to-end test skipped under -short")
	}
	if os.Getenv("VS_COMPOSE_E2E") != "1" {
		t.Skip("compose end-to-end test skipped: it runs under `make test-docker` (or set VS_COMPOSE_E2E=1), which provides a Docker engine, Compose and the images")
	}
	compose := composeCommand(t)
	if out, err := exec.Command("docker", "info", "--format", "{{.ServerVersion}}").CombinedOutput(); err != nil {
		t.Skipf("compose end-to-end test skipped: no Docker engine answers (`make test-docker` starts one): %v: %s", err, bytes.TrimSpace(out))
	}
	c := loadCompose(t)
	ooo, err := time.ParseDuration(composeEnv(t, c, "stats-processor")["PROCESSOR_WATERMARK_MAX_OUT_OF_ORDERNESS"])
	if err != nil {
		t.Fatalf("PROCESSOR_WATERMARK_MAX_OUT_OF_ORDERNESS: %v", err)
	}
	p := newProject(t, compose)

	services := []string{"kafka", "redis", "vehicle-producer", "stats-processor", "prometheus"}
	if p.imageAvailable(c.Services["grafana"].Image) {
		services = append(services, "grafana")
	} else {
		t.Logf("grafana left out: its image %s is not here and cannot be pulled (no offline source for Grafana)", c.Services["grafana"].Image)
	}

	// One after the other: the second reuses the first's Go build cache
	// (a cache mount), where side by side both would compile everything.
	t.Logf("building both service images with docker compose build (seconds with a warm build cache, 7 to 10 min cold)")
	start := time.Now()
	p.run("build", "stats-processor")
	p.run("build", "vehicle-producer")
	t.Logf("figure: built both service images in %.0f s", time.Since(start).Seconds())
	for _, name := range []string{"vehicle-producer", "stats-processor"} {
		img := "vehicle-stats/" + name + ":" + p.version
		t.Logf("figure: image %s is %s", img, p.imageSize(img))
	}
	for _, name := range services {
		if img := c.Services[name].Image; !strings.HasPrefix(img, "vehicle-stats/") {
			t.Logf("figure: image %s (%s) is %s", img, name, p.imageSize(img))
		}
	}

	start = time.Now()
	p.run(append([]string{"up", "--detach", "--wait", "--wait-timeout", "600"}, services...)...)
	t.Logf("figure: `docker compose up` to every service healthy: %.0f s", time.Since(start).Seconds())
	p.checkHealthy(services)
	p.checkKafkaConfig(composeEnv(t, c, "kafka"))

	k := newComposedKafka(t, "127.0.0.1:"+p.ports["HOST_KAFKA_PORT"], ooo)
	k.waitTopic("vehicle-topic")

	// Phase 1: one processor. It is stopped while the data is written, so
	// that it finds every partition with unread data when it starts: no
	// partition is idle (the contract's condition for a deterministic
	// output) and the expectation is a function of the input alone.
	p.run("stop", "stats-processor")
	data := composeDataset(11, k.partitions, 800, time.Now().UnixMilli(), ooo)
	k.produce(contracttest.Interleave(data, 1<<30)[0])
	p.run("start", "stats-processor")
	p.waitHealthy("stats-processor", 1)
	k.waitExact(p.processorAddrs())

	// Phase 2: three processors, fed in a stream, and one killed mid-stream.
	p.run("stop", "stats-processor")
	data = composeDataset(12, k.partitions, 800, time.Now().UnixMilli(), ooo)
	chunks := contracttest.Interleave(data, 25)
	k.produce(chunks[0])
	p.run("up", "--detach", "--wait", "--wait-timeout", "300", "--no-recreate", "--scale", "stats-processor=3", "stats-processor")
	for i, ch := range chunks[1:] {
		k.produce(ch)
		if i == len(chunks)/3 {
			victim := p.containers("stats-processor")[1]
			if out, err := exec.Command("docker", "kill", victim).CombinedOutput(); err != nil {
				t.Fatalf("docker kill %s: %v\n%s", victim, err, out)
			}
			t.Logf("killed processor container %.12s (SIGKILL) after %d of %d chunks", victim, i+1, len(chunks))
		}
		time.Sleep(300 * time.Millisecond)
	}
	addrs := p.processorAddrs()
	if len(addrs) < 2 {
		t.Fatalf("only %d processor instances run after the kill, want at least 2", len(addrs))
	}
	k.waitExact(addrs)
	// Back to three (the killed one is not restarted: `docker kill` is a
	// stop by hand for the restart policy); Prometheus finds each by DNS.
	p.run("up", "--detach", "--wait", "--wait-timeout", "300", "--no-recreate", "--scale", "stats-processor=3", "stats-processor")
	p.checkScrapes(len(p.containers("stats-processor")))
}

// project is one compose project with its own name, host ports and data.
type project struct {
	t       *testing.T
	compose []string
	name    string
	version string
	env     []string
	ports   map[string]string
}

func newProject(t *testing.T, compose []string) *project {
	p := &project{
		t: t, compose: compose,
		name:    testenv.UniqueName("vs-e2e"),
		version: "e2e",
		ports:   map[string]string{},
	}
	// Five single ports, then the processors' range of ten, below the
	// ephemeral range: Docker binds a published range without trying
	// another port, so none of it may be taken by an outgoing connection.
	first, err := testenv.FreePorts(15)
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range []string{"HOST_KAFKA_PORT", "HOST_REDIS_PORT", "HOST_PRODUCER_PORT", "HOST_PROMETHEUS_PORT", "HOST_GRAFANA_PORT"} {
		p.ports[v] = strconv.Itoa(first + i)
	}
	p.ports["HOST_PROCESSOR_PORTS"] = fmt.Sprintf("%d-%d", first+5, first+14)
	p.env = []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"),
		"VERSION=" + p.version,
		// The producer runs (and must be healthy) but adds next to nothing:
		// the input is the test's known data. Whatever it does send is read
		// back from the topic and counted in the expectation.
		"PRODUCER_RATE=0.001",
		// HOST_BIND stays unset: every port on 127.0.0.1 (set, it would
		// require GRAFANA_ADMIN_PASSWORD).
	}
	for _, v := range []string{"DOCKER_HOST", "DOCKER_CONFIG", "DOCKER_CONTEXT"} {
		if s := os.Getenv(v); s != "" {
			p.env = append(p.env, v+"="+s)
		}
	}
	for k, v := range p.ports {
		p.env = append(p.env, k+"="+v)
	}
	t.Logf("compose project %s, host ports %v", p.name, p.ports)
	t.Cleanup(func() {
		if t.Failed() {
			out, _ := p.output("logs", "--no-color", "--tail", "60")
			t.Logf("compose logs (last lines of each container):\n%s", out)
		}
		if out, err := p.output("down", "--volumes", "--remove-orphans", "--timeout", "60"); err != nil {
			t.Errorf("docker compose down -v: %v\n%s", err, out)
		}
	})
	return p
}

func (p *project) args(args ...string) []string {
	base := append(slices.Clone(p.compose[1:]), "--project-name", p.name,
		"--project-directory", repoFile(p.t, "."), "--file", repoFile(p.t, "docker-compose.yml"))
	return append(base, args...)
}

func (p *project) output(args ...string) (string, error) {
	cmd := exec.Command(p.compose[0], p.args(args...)...)
	cmd.Dir, cmd.Env = repoFile(p.t, "."), p.env
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (p *project) run(args ...string) string {
	p.t.Helper()
	out, err := p.output(args...)
	if err != nil {
		p.t.Fatalf("docker compose %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// imageAvailable: the image is here, or a pull succeeds.
func (p *project) imageAvailable(img string) bool {
	if exec.Command("docker", "image", "inspect", img).Run() == nil {
		return true
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return exec.CommandContext(ctx, "docker", "pull", "-q", img).Run() == nil
}

func (p *project) imageSize(img string) string {
	out, err := exec.Command("docker", "image", "inspect", "--format", "{{.Size}} {{index .Config.Labels \"vehicle-stats.standin\"}}", img).Output()
	if err != nil {
		return "not here"
	}
	size, label, _ := strings.Cut(strings.TrimSpace(string(out)), " ")
	n, _ := strconv.ParseInt(size, 10, 64)
	s := fmt.Sprintf("%d MB", n/1_000_000)
	switch {
	case label == "":
	case strings.HasPrefix(img, "vehicle-stats/"): // the label comes with the base image
		s += " (on the stand-in " + label + ")"
	default:
		s += " (stand-in: " + label + ")"
	}
	return s
}

// containers lists the running containers of a service.
func (p *project) containers(service string) []string {
	out := p.run("ps", "--quiet", "--status", "running", service)
	return strings.Fields(out)
}

type psEntry struct {
	ID      string `json:"ID"`
	Service string `json:"Service"`
	State   string `json:"State"`
	Health  string `json:"Health"`
}

func (p *project) ps() []psEntry {
	out := p.run("ps", "--all", "--format", "json")
	var entries []psEntry
	dec := json.NewDecoder(strings.NewReader(out))
	for dec.More() {
		var e psEntry
		if err := dec.Decode(&e); err != nil {
			p.t.Fatalf("docker compose ps --format json: %v\n%s", err, out)
		}
		entries = append(entries, e)
	}
	return entries
}

// checkHealthy: every service runs and its health check passes.
func (p *project) checkHealthy(services []string) {
	p.t.Helper()
	seen := map[string]bool{}
	for _, e := range p.ps() {
		seen[e.Service] = true
		if e.State != "running" || e.Health != "healthy" {
			p.t.Errorf("%s (%s): state %s, health %q; want running and healthy", e.Service, e.ID, e.State, e.Health)
		}
	}
	for _, s := range services {
		if !seen[s] {
			p.t.Errorf("service %s has no container", s)
		}
	}
}

func (p *project) waitHealthy(service string, n int) {
	p.t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for {
		healthy := 0
		for _, e := range p.ps() {
			if e.Service == service && e.State == "running" && e.Health == "healthy" {
				healthy++
			}
		}
		if healthy >= n {
			return
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("%s: %d of %d containers healthy after 3 minutes", service, healthy, n)
		}
		time.Sleep(2 * time.Second)
	}
}

// processorAddrs: the host address of every running processor instance.
func (p *project) processorAddrs() []string {
	var addrs []string
	for _, id := range p.containers("stats-processor") {
		out, err := exec.Command("docker", "port", id, "9080/tcp").Output()
		if err != nil {
			p.t.Fatalf("docker port %s: %v", id, err)
		}
		addr := strings.Fields(string(out))
		if len(addr) == 0 {
			p.t.Fatalf("container %s publishes no port 9080", id)
		}
		addrs = append(addrs, addr[0])
	}
	return addrs
}

// checkKafkaConfig: the broker (real image or stand-in) took every KAFKA_*
// variable of the compose file as a known property: its configuration dump
// lists each, and it warns about none.
func (p *project) checkKafkaConfig(env map[string]string) {
	p.t.Helper()
	logs := p.run("logs", "--no-color", "kafka")
	if strings.Contains(logs, "isn't a known config") {
		for _, l := range strings.Split(logs, "\n") {
			if strings.Contains(l, "isn't a known config") {
				p.t.Errorf("kafka: %s", l)
			}
		}
	}
	for _, k := range sortedKeys(env) {
		name, ok := kafkaProperty(k)
		if !ok {
			continue
		}
		if !strings.Contains(logs, "\t"+name+" = ") {
			p.t.Errorf("kafka: %s should set %s, which the broker's configuration dump does not list", k, name)
		}
	}
}

// kafkaProperty is the broker property an environment variable of the
// apache/kafka image sets, as its documentation states the rule.
func kafkaProperty(env string) (string, bool) {
	rest, ok := strings.CutPrefix(env, "KAFKA_")
	if !ok || slices.Contains([]string{"HEAP_OPTS", "OPTS", "JVM_PERFORMANCE_OPTS", "LOG4J_OPTS", "JMX_OPTS", "GC_LOG_OPTS", "VERSION",
		"LOG4J_ROOT_LOGLEVEL", "LOG4J_LOGGERS", "TOOLS_LOG4J_LOGLEVEL", "JMX_HOSTNAME"}, rest) {
		return "", false
	}
	rest = strings.ReplaceAll(strings.ToLower(rest), "___", "-")
	rest = strings.ReplaceAll(rest, "__", "\x00")
	rest = strings.ReplaceAll(rest, "_", ".")
	return strings.ReplaceAll(rest, "\x00", "_"), true
}

// checkScrapes: Prometheus scrapes every processor instance and the
// producer, and each scrape is up.
func (p *project) checkScrapes(processors int) {
	t := p.t
	t.Helper()
	url := "http://127.0.0.1:" + p.ports["HOST_PROMETHEUS_PORT"] + "/api/v1/targets?state=active"
	deadline := time.Now().Add(2 * time.Minute)
	for {
		up := map[string]int{}
		var last string
		resp, err := http.Get(url)
		if err == nil {
			var body struct {
				Data struct {
					ActiveTargets []struct {
						Labels    map[string]string `json:"labels"`
						Health    string            `json:"health"`
						LastError string            `json:"lastError"`
					} `json:"activeTargets"`
				} `json:"data"`
			}
			err = json.NewDecoder(resp.Body).Decode(&body)
			resp.Body.Close()
			for _, tg := range body.Data.ActiveTargets {
				if tg.Health == "up" {
					up[tg.Labels["job"]]++
				}
				last += fmt.Sprintf("%s %s %s %s; ", tg.Labels["job"], tg.Labels["instance"], tg.Health, tg.LastError)
			}
		}
		if err == nil && up["stats-processor"] == processors && up["vehicle-producer"] == 1 {
			t.Logf("prometheus scrapes %d processor instances and the producer, all up", processors)
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("prometheus targets after 2 minutes: %v (want %d stats-processor, 1 vehicle-producer up): %v %s", up, processors, err, last)
		}
		time.Sleep(2 * time.Second)
	}
}

// composedKafka writes known data into the composed Kafka and checks the
// processor's output against the input topic's content.
type composedKafka struct {
	t          *testing.T
	brokers    []string
	partitions int
	ooo        time.Duration
}

func newComposedKafka(t *testing.T, broker string, ooo time.Duration) *composedKafka {
	return &composedKafka{t: t, brokers: []string{broker}, ooo: ooo}
}

// waitTopic waits until the services have created the input topic.
func (k *composedKafka) waitTopic(topic string) {
	t := k.t
	t.Helper()
	c := &kafka.Client{Addr: kafka.TCP(k.brokers...), Timeout: 10 * time.Second}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		md, err := c.Metadata(context.Background(), &kafka.MetadataRequest{Topics: []string{topic}})
		if err == nil && len(md.Topics) == 1 && md.Topics[0].Error == nil && len(md.Topics[0].Partitions) > 0 {
			k.partitions = len(md.Topics[0].Partitions)
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("topic %s does not exist after 2 minutes: %v", topic, err)
		}
		time.Sleep(time.Second)
	}
}

// composeDataset builds per partition events that mostly advance in event time
// from base, some out of order within ooo, some late on purpose: 25 s to
// 60 s behind the partition's newest event, so late whichever watermark
// closed their window.
func composeDataset(seed uint64, partitions, perPartition int, base int64, ooo time.Duration) [][]contracttest.Record {
	rng := rand.New(rand.NewPCG(seed, 7))
	types := model.VehicleTypes()
	out := make([][]contracttest.Record, partitions)
	for p := range partitions {
		tm := base + int64(rng.IntN(2000))
		for i := range perPartition {
			tm += int64(rng.IntN(50))
			et := tm
			switch r := rng.IntN(100); {
			case r < 8:
				et = tm - int64(rng.IntN(int(ooo.Milliseconds())+1))
			case r < 10 && i > 50:
				et = tm - 25_000 - int64(rng.IntN(35_000))
			}
			typ := types[0] // mostly cars, as on a real road
			if rng.IntN(3) == 0 {
				typ = types[rng.IntN(len(types))]
			}
			plate := fmt.Sprintf("E%d-%d-%05d", seed, p, i)
			out[p] = append(out[p], contracttest.NewRecord(p, plate, i, et, typ, contracttest.TimeForm(i%3)))
		}
	}
	return out
}

func (k *composedKafka) produce(recs []contracttest.Record) {
	k.t.Helper()
	w := &kafka.Writer{
		Addr: kafka.TCP(k.brokers...), Topic: "vehicle-topic", RequiredAcks: kafka.RequireAll,
		Balancer: kafka.BalancerFunc(func(m kafka.Message, _ ...int) int {
			n, _ := strconv.Atoi(string(m.Headers[0].Value))
			return n
		}),
		BatchSize: 5000, BatchTimeout: 2 * time.Millisecond, MaxAttempts: 10,
	}
	defer w.Close()
	msgs := make([]kafka.Message, len(recs))
	for i, r := range recs {
		msgs[i] = kafka.Message{Key: []byte(r.Key), Value: r.Value, Headers: []kafka.Header{{Key: "p", Value: []byte(strconv.Itoa(r.Partition))}}}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		k.t.Fatalf("produce: %v", err)
	}
}

// readTopic reads every partition of a topic from its start to its current
// end, each partition in offset order.
func (k *composedKafka) readTopic(topic string) []kafka.Message {
	k.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var out []kafka.Message
	if err := contracttest.ReadAll(ctx, k.brokers, topic, func(m kafka.Message) { out = append(out, m) }); err != nil {
		k.t.Fatal(err)
	}
	return out
}

// expected computes the contract's result from the input topic as it is
// (the known data and whatever the producer sent) with the oracle:
// undecodable and far-future records are bad, lateness per partition in
// log order.
func (k *composedKafka) expected(input []kafka.Message) contracttest.Result {
	log := make([]contracttest.Input, len(input))
	for i, m := range input {
		log[i] = contracttest.Input{Partition: m.Partition, Value: m.Value}
		if !m.Time.IsZero() {
			log[i].RecordTime = m.Time.UnixMilli()
		}
	}
	return contracttest.ExpectedLog(log, contracttest.Settings{Window: composeWindow, MaxOutOfOrderness: k.ooo, MaxFuture: composeMaxFuture}, time.Now().UnixMilli())
}

// waitExact waits until the output topic holds a record for every expected
// (window, type), then requires it to be exactly the expectation (byte for
// byte, repeats identical, nothing else) and /stats on every instance to
// agree.
func (k *composedKafka) waitExact(addrs []string) {
	t := k.t
	t.Helper()
	deadline := time.Now().Add(5 * time.Minute)
	for {
		// Read the input again each time: the producer may have sent one
		// more event meanwhile.
		want := k.expected(k.readTopic("vehicle-topic"))
		var records []contracttest.OutputRecord
		for _, m := range k.readTopic("vehicle-statistics-topic") {
			records = append(records, contracttest.OutputRecord{Key: m.Key, Value: m.Value, Offset: m.Offset, Time: m.Time.UnixMilli()})
		}
		rep := contracttest.CompareOutput(want.Counts, records, composeWindow)
		if len(rep.Missing) == 0 || time.Now().After(deadline) {
			t.Logf("expectation: %d (window, type) counts, %d late events, %d bad records; output: %d records, %d byte-identical repeats",
				len(want.Counts), want.Late, want.Bad, rep.Records, rep.Duplicates)
			if !rep.OK() {
				t.Fatalf("output topic against the oracle:\n%s", strings.Join(rep.Describe(20), "\n"))
			}
			for _, addr := range addrs {
				k.checkStats(addr, want.Counts)
			}
			return
		}
		time.Sleep(2 * time.Second)
	}
}

// checkStats: /stats of one instance lists every window of the expectation,
// closed, with its exact counts.
func (k *composedKafka) checkStats(addr string, want map[contracttest.Key]int64) {
	t := k.t
	t.Helper()
	totals := map[int64]map[string]int64{}
	for w, n := range want {
		if totals[w.Start] == nil {
			totals[w.Start] = map[string]int64{}
		}
		totals[w.Start][w.Type.String()] = n
	}
	resp, err := http.Get("http://" + addr + "/stats?limit=1000")
	if err != nil {
		t.Fatalf("/stats on %s: %v", addr, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var st struct {
		Windows []struct {
			Start  time.Time        `json:"start"`
			Closed bool             `json:"closed"`
			Counts map[string]int64 `json:"counts"`
		} `json:"windows"`
	}
	if err := json.Unmarshal(body, &st); err != nil {
		t.Fatalf("/stats on %s: %v: %s", addr, err, body)
	}
	if len(st.Windows) != len(totals) {
		t.Errorf("/stats on %s lists %d windows, want %d", addr, len(st.Windows), len(totals))
	}
	for _, w := range st.Windows {
		exp := totals[w.Start.UnixMilli()]
		if !w.Closed || fmt.Sprint(exp) != fmt.Sprint(w.Counts) {
			t.Errorf("/stats on %s: window %s closed=%v counts %v, want closed and %v", addr, w.Start, w.Closed, w.Counts, exp)
		}
	}
}
