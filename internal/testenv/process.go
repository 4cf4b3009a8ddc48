package testenv

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Launch says how StartProcess runs a binary.
type Launch struct {
	// Args are the command-line arguments.
	Args []string
	// Env is added to this process's environment, or with Clean is the
	// whole environment besides PATH (as a container would run it).
	Env   []string
	Clean bool
	// Dir is the working directory; this process's when empty.
	Dir string
	// LogPath receives stdout and stderr; a new temporary file when empty.
	LogPath string
}

// Process is a service binary started for a test or a benchmark, its output
// going to a log file.
type Process struct {
	// Name names the process in messages.
	Name    string
	cmd     *exec.Cmd
	logPath string
	done    chan struct{}
	err     error
}

// StartProcess starts bin as l says; it fails when the binary cannot be
// started.
func StartProcess(name, bin string, l Launch) (*Process, error) {
	var logf *os.File
	var err error
	if l.LogPath == "" {
		logf, err = os.CreateTemp("", name+"-*.log")
	} else {
		logf, err = os.OpenFile(l.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	}
	if err != nil {
		return nil, fmt.Errorf("log of %s: %w", name, err)
	}
	cmd := exec.Command(bin, l.Args...)
	cmd.Dir = l.Dir
	if l.Clean {
		cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, l.Env...)
	} else {
		cmd.Env = append(os.Environ(), l.Env...)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	p := &Process{Name: name, cmd: cmd, logPath: logf.Name(), done: make(chan struct{})}
	go func() { p.err = cmd.Wait(); logf.Close(); close(p.done) }()
	return p, nil
}

// Pid is the process id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Done is closed when the process has exited; Err then says how.
func (p *Process) Done() <-chan struct{} { return p.done }

// Err is nil after an exit 0, the exit error otherwise; valid once Done is
// closed.
func (p *Process) Err() error { return p.err }

// ExitCode is the exit code, -1 when killed by a signal; valid once Done is
// closed.
func (p *Process) ExitCode() int { return p.cmd.ProcessState.ExitCode() }

// ErrNotStopped is matched by Stop's error when the process did not exit
// within the grace period after SIGTERM.
var ErrNotStopped = errors.New("did not stop in time")

// Stop sends SIGTERM and waits up to grace for the exit; it fails when the
// process exits other than with 0, and, after killing it, with
// ErrNotStopped when it does not exit in time.
func (p *Process) Stop(grace time.Duration) error {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		if p.err != nil {
			return fmt.Errorf("%s did not exit 0 on SIGTERM: %w", p.Name, p.err)
		}
		return nil
	case <-time.After(grace):
		p.Kill()
		return fmt.Errorf("%s %w: not within %s of SIGTERM", p.Name, ErrNotStopped, grace)
	}
}

// Kill sends SIGKILL, if the process still runs, and waits up to 5 s for
// it to go.
func (p *Process) Kill() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
	}
}

// Tail is the last n lines of the log.
func (p *Process) Tail(n int) string {
	b, _ := os.ReadFile(p.logPath)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

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

// E2EProcessor is the setting the end-to-end tests share for a pipeline
// on s: its own topics, group and key prefix, read from the start, 20 s
// windows with 3 s of out-of-orderness, a 5 s idle timeout, checkpoints
// every 200 ms and the shortest session the broker allows, so that a killed
// instance's partitions move within seconds. Topics and key prefix are
// created for the test and removed after it (a comma in s.RedisAddr, a
// private Redis Cluster, gets an unshared prefix that goes with it).
func (s Services) E2EProcessor(t testing.TB, name string, partitions int) ProcessorConfig {
	t.Helper()
	prefix := UniqueName("t")
	if !strings.Contains(s.RedisAddr, ",") {
		_, prefix = s.Redis(t)
	}
	return ProcessorConfig{
		Brokers: s.Brokers, RedisAddr: s.RedisAddr, KeyPrefix: prefix,
		Input:      s.Topic(t, name+"-in", partitions),
		Output:     s.Topic(t, name+"-out", 1),
		DeadLetter: s.Topic(t, name+"-dead", 1),
		Late:       s.Topic(t, name+"-late", 1),
		Group:      UniqueName(name + "-group"),
		Earliest:   true, Window: 20 * time.Second, MaxOutOfOrderness: 3 * time.Second, IdleTimeout: 5 * time.Second,
		CheckpointInterval: 200 * time.Millisecond, SessionTimeout: 6 * time.Second,
	}
}

// Processor is a stats-processor binary running for a test.
type Processor struct {
	*Process
	// Addr is its HTTP address, host:port.
	Addr string
}

// StartProcessor builds stats-processor (with the race detector) and starts
// it as instance name with cfg on a free HTTP port, logging as text, with no
// YAML file (only cfg and the defaults apply). It returns once /healthz
// answers, or fails the test with the log's tail. The process is killed
// when the test ends, and its log's tail logged if the test failed.
func StartProcessor(t testing.TB, name string, cfg ProcessorConfig) *Processor {
	t.Helper()
	cfg.HTTPAddr = fmt.Sprintf("127.0.0.1:%d", Port(t))
	cfg.InstanceID = name
	cfg.Extra = append([]string{"PROCESSOR_LOG_FORMAT=text"}, cfg.Extra...)
	bin := Binary(t, "./services/stats-processor", true)
	p, err := StartProcess(name, bin, Launch{Args: []string{"--config", "/dev/null"}, Env: cfg.Env(), LogPath: tempLog(t, name)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.Kill()
		if t.Failed() {
			t.Logf("--- log of %s (last 40 lines)\n%s", name, p.Tail(40))
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get("http://" + cfg.HTTPAddr + "/healthz")
		if err == nil {
			resp.Body.Close()
			return &Processor{Process: p, Addr: cfg.HTTPAddr}
		}
		select {
		case <-p.Done():
			t.Fatalf("%s exited at start: %v\n%s", name, p.Err(), p.Tail(30))
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not answer /healthz\n%s", name, p.Tail(30))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func tempLog(t testing.TB, name string) string {
	return filepath.Join(t.TempDir(), name+".log")
}
