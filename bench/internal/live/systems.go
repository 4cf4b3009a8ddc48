package live

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/vehicle-stats/vehicle-stats/internal/testenv/proc"
	"github.com/vehicle-stats/vehicle-stats/internal/testenv/scratch"
)

// Cleanup collects what the runs created, for a run.sh to delete with
// bench/compare/measure's cleanup.
type Cleanup struct {
	Topics, Groups, TopicPrefixes, RedisPrefixes []string
}

// Write writes the lists as shell variables TOPICS, GROUPS, TOPIC_PREFIXES
// and REDIS_PREFIXES to path.
func (c *Cleanup) Write(path string) error {
	j := func(s []string) string { return strings.Join(s, ",") }
	return os.WriteFile(path, []byte(fmt.Sprintf("TOPICS=%s\nGROUPS=%s\nTOPIC_PREFIXES=%s\nREDIS_PREFIXES=%s\n",
		j(c.Topics), j(c.Groups), j(c.TopicPrefixes), j(c.RedisPrefixes))), 0o644)
}

// CreateTopics creates each topic with its number of partitions and notes
// it in c.
func (c *Cleanup) CreateTopics(ctx context.Context, brokers []string, partitions map[string]int) error {
	for name, parts := range partitions {
		c.Topics = append(c.Topics, name)
		tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err := scratch.CreateTopic(tctx, brokers, name, parts)
		cancel()
		if err != nil {
			return fmt.Errorf("create topic %s: %w", name, err)
		}
	}
	return nil
}

// StartOurs starts one stats-processor instance of bin per name, with cfg,
// its own free HTTP port, the name as its instance id, text logs to
// logPath(name) and no YAML file (proc.ExecProcessor), and waits until
// every one answers /readyz. It returns the processes it started, also on
// error, for the caller to stop.
func StartOurs(ctx context.Context, bin string, cfg proc.ProcessorConfig, names []string, logPath func(string) string) ([]*proc.Process, error) {
	var procs []*proc.Process
	var started []*proc.Service
	for _, name := range names {
		c := cfg
		c.HTTPAddr, c.InstanceID = "", name
		c.Extra = append([]string{"PROCESSOR_LOG_FORMAT=text"}, cfg.Extra...)
		s, err := proc.ExecProcessor(bin, logPath(name), c)
		if err != nil {
			return procs, err
		}
		procs = append(procs, s.Process)
		started = append(started, s)
	}
	rctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	for _, s := range started {
		if err := s.AwaitReady(rctx); err != nil {
			return procs, err
		}
	}
	return procs, nil
}

// Streams is how to run the Kafka Streams reference application
// (bench/kafka-streams-reference), as bench/latency/run.sh builds it.
type Streams struct {
	// ClassPath is its class path; Heap its -Xmx.
	ClassPath, Heap string
	Brokers         []string
	Input, Output   string
	// AppID is its application id: its group, and its internal topics' prefix.
	AppID string
	// StateDir is the directory of its local state stores.
	StateDir string
	Window   time.Duration
	// SessionTimeout is its consumers' session timeout; zero leaves the
	// client's default (45 s).
	SessionTimeout time.Duration
}

// Args are the java command's arguments for one instance.
func (s Streams) Args() []string {
	args := []string{"-Xmx" + s.Heap, "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn", "-cp", s.ClassPath,
		"io.vehiclestats.bench.streams.VehicleStatisticsStreams",
		"--brokers", strings.Join(s.Brokers, ","), "--input", s.Input, "--output", s.Output, "--app-id", s.AppID,
		"--state-dir", filepath.Clean(s.StateDir), "--threads", "2",
		"--window-ms", strconv.FormatInt(s.Window.Milliseconds(), 10)}
	if s.SessionTimeout > 0 {
		args = append(args, "--session-timeout-ms", strconv.FormatInt(s.SessionTimeout.Milliseconds(), 10))
	}
	return args
}

// LateEvents is the count of late events a reference job logged: its total
// ("late events in total: N"), else its last report ("late events so far:
// N"), else 0.
func LateEvents(logPath string) int64 {
	b, err := os.ReadFile(logPath)
	if err != nil {
		return 0
	}
	var total, soFar int64 = -1, 0
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "late events in total: "); ok {
			total, _ = strconv.ParseInt(strings.Fields(v + " x")[0], 10, 64)
		} else if v, ok := strings.CutPrefix(line, "late events so far: "); ok {
			soFar, _ = strconv.ParseInt(strings.Fields(v + " x")[0], 10, 64)
		}
	}
	if total >= 0 {
		return total
	}
	return soFar
}

// DeleteTopics deletes the topics c created so far and forgets them, for a
// run of many steps that should not keep every step's input on disk.
func (c *Cleanup) DeleteTopics(ctx context.Context, brokers []string) error {
	if len(c.Topics) == 0 {
		return nil
	}
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := scratch.DeleteTopics(dctx, brokers, c.Topics...); err != nil {
		return err
	}
	c.Topics = nil
	return nil
}
