package proc

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// ProcessorConfig is how a test or a benchmark runs one stats-processor
// instance: the pipeline it belongs to, and the settings tests change. A
// zero field leaves the processor's default.
type ProcessorConfig struct {
	Brokers    []string
	RedisAddr  string
	KeyPrefix  string
	Input      string
	Output     string
	DeadLetter string
	Late       string
	Group      string
	// Earliest starts partitions with no saved state at their beginning.
	Earliest           bool
	Window             time.Duration
	MaxOutOfOrderness  time.Duration
	IdleTimeout        time.Duration
	CheckpointInterval time.Duration
	SessionTimeout     time.Duration
	HTTPAddr           string
	InstanceID         string
	// Extra are more PROCESSOR_* settings, applied last.
	Extra []string
}

// Env is the configuration as the processor's environment variables.
func (c ProcessorConfig) Env() []string {
	var env []string
	set := func(key, value string) {
		if value != "" && value != "0s" {
			env = append(env, "PROCESSOR_"+key+"="+value)
		}
	}
	set("KAFKA_BROKERS", strings.Join(c.Brokers, ","))
	set("KAFKA_INPUT_TOPIC", c.Input)
	set("KAFKA_OUTPUT_TOPIC", c.Output)
	set("KAFKA_DEAD_LETTER_TOPIC", c.DeadLetter)
	set("KAFKA_LATE_TOPIC", c.Late)
	set("KAFKA_GROUP_ID", c.Group)
	if c.Earliest {
		set("KAFKA_START_OFFSET", "earliest")
	}
	set("KAFKA_SESSION_TIMEOUT", c.SessionTimeout.String())
	set("REDIS_ADDR", c.RedisAddr)
	set("REDIS_KEY_PREFIX", c.KeyPrefix)
	set("WINDOW_SIZE", c.Window.String())
	set("WATERMARK_MAX_OUT_OF_ORDERNESS", c.MaxOutOfOrderness.String())
	set("WATERMARK_IDLE_TIMEOUT", c.IdleTimeout.String())
	set("CHECKPOINT_INTERVAL", c.CheckpointInterval.String())
	set("HTTP_ADDR", c.HTTPAddr)
	set("INSTANCE_ID", c.InstanceID)
	return append(env, c.Extra...)
}

// ExecProcessor starts the stats-processor binary bin as cfg says, with no
// YAML file (only cfg and the defaults apply), its output going to logPath
// (a new temporary file when empty), and returns without waiting for it: for
// a processor expected to refuse to start. An empty cfg.HTTPAddr gets a free
// port.
func ExecProcessor(bin, logPath string, cfg ProcessorConfig) (*Service, error) {
	name := cfg.InstanceID
	if name == "" {
		name = "stats-processor"
	}
	return execService(name, bin, logPath, []string{"--config", "/dev/null"}, cfg.HTTPAddr, func(addr string) []string {
		cfg.HTTPAddr = addr
		return cfg.Env()
	})
}

// LaunchProcessor starts the processor as ExecProcessor does and waits until
// its /readyz answers 200. When ctx ends first, or the process exits, the
// process is killed and the error carries the end of its log.
func LaunchProcessor(ctx context.Context, bin, logPath string, cfg ProcessorConfig) (*Service, error) {
	s, err := ExecProcessor(bin, logPath, cfg)
	if err != nil {
		return nil, err
	}
	return s, s.AwaitReady(ctx)
}

// StartProcessor builds stats-processor (with the race detector) and starts
// it as instance name with cfg on a free HTTP port, logging as text into the
// test's temporary folder. It returns once /readyz answers 200, or fails the
// test with the log's tail. The process is killed when the test ends, and
// its log's tail logged if the test failed.
func StartProcessor(t testing.TB, name string, cfg ProcessorConfig) *Service {
	t.Helper()
	return startProcessor(t, name, cfg, (*Service).AwaitReady)
}

// StartProcessorListening is StartProcessor for a processor that is meant
// not to be ready (it refuses a partition): it returns once /readyz
// answers at all.
func StartProcessorListening(t testing.TB, name string, cfg ProcessorConfig) *Service {
	t.Helper()
	return startProcessor(t, name, cfg, (*Service).AwaitListening)
}

func startProcessor(t testing.TB, name string, cfg ProcessorConfig, await func(*Service, context.Context) error) *Service {
	t.Helper()
	cfg.HTTPAddr = ""
	cfg.InstanceID = name
	cfg.Extra = append([]string{"PROCESSOR_LOG_FORMAT=text"}, cfg.Extra...)
	bin := Binary(t, "./services/stats-processor", true)
	s, err := ExecProcessor(bin, filepath.Join(t.TempDir(), name+".log"), cfg)
	if err != nil {
		t.Fatal(err)
	}
	cleanUp(t, s)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	if err := await(s, ctx); err != nil {
		t.Fatal(err)
	}
	return s
}

// cleanUp kills s when the test ends, and logs its log's tail if the test
// failed.
func cleanUp(t testing.TB, s *Service) {
	t.Cleanup(func() {
		s.Kill()
		if t.Failed() {
			t.Logf("--- log of %s (last 40 lines)\n%s", s.Name, s.Tail(40))
		}
	})
}
