package compose_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/vehicle-stats/vehicle-stats/internal/testenv"
)

// standinConfig runs the Kafka stand-in's entrypoint with --print-config in
// a clean environment plus env, and returns the server.properties it would
// write, one line an entry.
func standinConfig(t *testing.T, env map[string]string, mounted string) ([]string, error) {
	t.Helper()
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("bash is not installed: the stand-in's entrypoint is a bash script")
	}
	dir := t.TempDir()
	if mounted != "" {
		if err := os.WriteFile(filepath.Join(dir, "server.properties"), []byte(mounted), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(bash, repoFile(t, "deploy/docker/standins/kafka/run"), "--print-config")
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"),
		"STANDIN_DEFAULTS_DIR=" + repoFile(t, "deploy/docker/standins/kafka"),
		"STANDIN_MOUNTED_CONFIG_DIR=" + dir,
	}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	out, err := cmd.CombinedOutput()
	var lines []string
	for _, l := range strings.Split(string(out), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			lines = append(lines, l)
		}
	}
	if err != nil {
		return lines, err
	}
	return lines, nil
}

// TestKafkaStandinEnvCompose: the environment docker-compose.yml gives the
// apache/kafka image becomes, in the stand-in, exactly one property per
// KAFKA_* variable, named by the image's rule, and nothing else.
func TestKafkaStandinEnvCompose(t *testing.T) {
	env := composeEnv(t, loadCompose(t), "kafka")
	got, err := standinConfig(t, env, "")
	if err != nil {
		t.Fatalf("run --print-config: %v\n%s", err, strings.Join(got, "\n"))
	}
	var want []string
	for k, v := range env {
		if name, ok := kafkaProperty(k); ok {
			want = append(want, name+"="+v)
		}
	}
	slices.Sort(want)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("stand-in config from the compose environment:\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
	// The properties the single-node KRaft setup rests on, written out.
	for _, line := range []string{
		"process.roles=broker,controller",
		"node.id=1",
		"controller.quorum.voters=1@kafka:9093",
		"controller.listener.names=CONTROLLER",
		"inter.broker.listener.name=INTERNAL",
		"auto.create.topics.enable=false",
		"log.dirs=/var/lib/kafka/data",
		"offsets.topic.replication.factor=1",
	} {
		if !slices.Contains(got, line) {
			t.Errorf("stand-in config lacks %s", line)
		}
	}
	for _, l := range got {
		if strings.HasPrefix(l, "heap.opts=") || strings.HasPrefix(l, "cluster.id=") {
			t.Errorf("stand-in config has %s: a JVM or storage setting is not a broker property", l)
		}
	}
}

// TestKafkaStandinEnvRules: the naming rules of the real image's
// environment configuration, case by case.
func TestKafkaStandinEnvRules(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		mounted string
		want    []string
		fails   bool
	}{
		{"dots", map[string]string{"KAFKA_LOG_RETENTION_HOURS": "24"}, "", []string{"log.retention.hours=24"}, false},
		{"double underscore is an underscore", map[string]string{"KAFKA_LISTENER_NAME_INTERNAL_SSL_KEY__PASSWORD": "p"}, "",
			[]string{"listener.name.internal.ssl.key_password=p"}, false},
		{"triple underscore is a dash", map[string]string{"KAFKA_SOME___THING": "v"}, "", []string{"some-thing=v"}, false},
		{"JVM and logging variables are not properties", map[string]string{
			"KAFKA_HEAP_OPTS": "-Xmx1g", "KAFKA_OPTS": "-Dx=y", "KAFKA_LOG4J_ROOT_LOGLEVEL": "WARN", "KAFKA_JVM_PERFORMANCE_OPTS": "-server",
			"KAFKA_NODE_ID": "3",
		}, "", []string{"node.id=3"}, false},
		{"listeners follow the advertised ones", map[string]string{"KAFKA_ADVERTISED_LISTENERS": "PLAINTEXT://broker:9092,SSL://broker.example:9094"}, "",
			[]string{"advertised.listeners=PLAINTEXT://broker:9092,SSL://broker.example:9094", "listeners=PLAINTEXT://0.0.0.0:9092,SSL://0.0.0.0:9094"}, false},
		{"a controller takes no advertised listeners", map[string]string{"KAFKA_PROCESS_ROLES": "controller", "KAFKA_ADVERTISED_LISTENERS": "PLAINTEXT://c:9093"}, "", nil, true},
		{"a mounted file comes first, the variables after it", map[string]string{"KAFKA_NODE_ID": "2"}, "log.dirs=/data\n",
			[]string{"log.dirs=/data", "node.id=2"}, false},
		{"neither: the default single node", nil, "", []string{"process.roles=broker,controller", "node.id=1"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := standinConfig(t, tt.env, tt.mounted)
			if tt.fails {
				if err == nil {
					t.Errorf("want a refusal, got %v", got)
				}
				return
			}
			if err != nil {
				t.Fatalf("%v\n%s", err, strings.Join(got, "\n"))
			}
			for _, w := range tt.want {
				if !slices.Contains(got, w) {
					t.Errorf("config %v lacks %s", got, w)
				}
			}
			if tt.env != nil && tt.mounted == "" && len(got) != len(tt.want) {
				t.Errorf("config %v, want exactly %v", got, tt.want)
			}
		})
	}
}

// TestComposeImagesAreTestenvs: the testcontainers path of internal/testenv
// runs the same Kafka and Redis images as the compose file, so one set of
// images (pulled, or stood in for by deploy/docker/images.sh) serves both.
func TestComposeImagesAreTestenvs(t *testing.T) {
	c := loadCompose(t)
	if got := c.Services["kafka"].Image; got != testenv.KafkaImage {
		t.Errorf("compose runs %s, testenv.KafkaImage is %s", got, testenv.KafkaImage)
	}
	if got := c.Services["redis"].Image; got != testenv.RedisImage {
		t.Errorf("compose runs %s, testenv.RedisImage is %s", got, testenv.RedisImage)
	}
}
