package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/segmentio/kafka-go"
)

// Result is what one measured run produced; report reads it.
type Result struct {
	// Name labels the system (limit, flink, ours).
	Name string `json:"name"`
	// Command is the command line that ran.
	Command string `json:"command"`
	// Events is the number of input events.
	Events int64 `json:"events"`
	// Status is "ok", "timeout", "exited" (before all records appeared) or "failed".
	Status string `json:"status"`
	// WallSeconds is from process start to the last expected output record
	// observed on the output topic, or to process exit with -until-exit.
	WallSeconds float64 `json:"wall_s"`
	// FirstSeconds is from process start to the first output record observed;
	// 0 when not measured.
	FirstSeconds float64 `json:"first_s"`
	// EventsPerSecond is Events / WallSeconds.
	EventsPerSecond float64 `json:"events_per_s"`
	// PeakRSSBytes is VmHWM at completion, or the exit rusage's maximum RSS.
	PeakRSSBytes int64 `json:"peak_rss_bytes"`
	// CPUUserSeconds and CPUSysSeconds are the process's CPU time up to completion.
	CPUUserSeconds float64 `json:"cpu_user_s"`
	CPUSysSeconds  float64 `json:"cpu_sys_s"`
	// Source says where RSS and CPU come from: "/proc at completion" or "rusage at exit".
	Source string `json:"source"`
	// CountedSeconds is from process start until the command's own counter
	// (-counter on -counter-url) reached Events; 0 when not measured.
	CountedSeconds float64 `json:"counted_s"`
	// Records is how many output records were observed (duplicates included);
	// Expected is how many distinct ones were awaited.
	Records  int `json:"records"`
	Expected int `json:"expected"`
	// Exit is how the process ended.
	Exit string `json:"exit"`
	// Log is the file with the command's output.
	Log string `json:"log"`
}

type procSample struct {
	utime, stime float64 // seconds
	hwm, rss     int64   // bytes
	ok           bool
}

var clockTick = 100.0 // USER_HZ; 100 on every Linux this runs on

// sampleProc reads CPU time from /proc/pid/stat and peak and current RSS
// from /proc/pid/status.
func sampleProc(pid int) procSample {
	var s procSample
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return s
	}
	// The command name (field 2) may hold spaces; fields after it start past the last ')'.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return s
	}
	f := strings.Fields(string(stat[i+1:]))
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(f) < 13 {
		return s
	}
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	s.utime, s.stime = ut/clockTick, st/clockTick
	status, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return s
	}
	for line := range strings.SplitSeq(string(status), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		switch k {
		case "VmHWM":
			s.hwm = kb << 10
		case "VmRSS":
			s.rss = kb << 10
		}
	}
	s.ok = s.hwm > 0
	return s
}

type observed struct {
	key, value []byte
	at         time.Time
}

// runCmd starts the command after "--", measures it and writes a Result.
func runCmd(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("run", flag.ExitOnError)
	name := fs.String("name", "", "label of the system measured")
	brokers := fs.String("brokers", "127.0.0.1:19092", "Kafka bootstrap brokers, comma-separated")
	topic := fs.String("topic", "", "output topic to watch (one partition)")
	expectedPath := fs.String("expected", "", "expected output records (key TAB value per line)")
	observedPath := fs.String("observed", "", "file for the observed output records, in arrival order")
	untilExit := fs.Bool("until-exit", false, "measure until the command exits instead of watching a topic")
	events := fs.Int64("events", 0, "number of input events (for events/s)")
	resultPath := fs.String("result", "", "file for the Result (JSON)")
	logPath := fs.String("log", "", "file for the command's stdout and stderr")
	timeout := fs.Duration("timeout", 5*time.Minute, "give up after this long")
	linger := fs.Duration("linger", 0, "after completion: how long the command may take to end by itself before SIGTERM")
	grace := fs.Duration("grace", 20*time.Second, "after SIGTERM: how long the command may take before SIGKILL")
	counterURL := fs.String("counter-url", "", "Prometheus endpoint of the command, polled for -counter (optional)")
	counter := fs.String("counter", "", "metric whose samples add up to the events counted so far")
	_ = fs.Parse(args)
	argv := fs.Args()
	if *name == "" || *resultPath == "" || *logPath == "" || len(argv) == 0 || *events <= 0 {
		return errors.New("-name, -events, -result, -log and a command after -- are required")
	}
	if !*untilExit && (*topic == "" || *expectedPath == "" || *observedPath == "") {
		return errors.New("-topic, -expected and -observed are required unless -until-exit")
	}

	expected := map[string]bool{}
	if !*untilExit {
		exp, err := readRecords(*expectedPath)
		if err != nil {
			return err
		}
		for _, r := range exp {
			expected[r.key] = true
		}
		if len(expected) == 0 {
			return errors.New("no expected records")
		}
	}

	logf, err := os.Create(*logPath)
	if err != nil {
		return err
	}
	defer logf.Close()

	// The watcher is reading before the command starts, so the first record is
	// seen as soon as the broker has it (within the reader's MaxWait).
	watchCtx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	records := make(chan observed, 1024)
	if !*untilExit {
		// Read committed: a transactional writer's (Kafka Streams with
		// exactly_once_v2) records count when its transaction commits.
		r := kafka.NewReader(kafka.ReaderConfig{
			Brokers: strings.Split(*brokers, ","), Topic: *topic, Partition: 0,
			MinBytes: 1, MaxBytes: 4 << 20, MaxWait: 50 * time.Millisecond, StartOffset: kafka.FirstOffset,
			IsolationLevel: kafka.ReadCommitted,
		})
		defer r.Close()
		go func() {
			defer close(records)
			for {
				m, err := r.ReadMessage(watchCtx)
				if err != nil {
					return
				}
				if isControlRecord(m) {
					continue
				}
				select {
				case records <- observed{key: m.Key, value: m.Value, at: time.Now()}:
				case <-watchCtx.Done():
					return
				}
			}
		}()
	}

	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", argv[0], err)
	}
	pid := cmd.Process.Pid
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()

	res := Result{Name: *name, Command: strings.Join(argv, " "), Events: *events, Expected: len(expected), Log: *logPath}
	var obsFile *bufio.Writer
	if !*untilExit {
		f, err := os.Create(*observedPath)
		if err != nil {
			return err
		}
		defer f.Close()
		obsFile = bufio.NewWriter(f)
		defer obsFile.Flush()
	}

	// The command's own progress, when it exposes a counter: when it had
	// counted every input event, which separates its reading speed from the
	// wait for the last windows to close.
	countedCh := make(chan time.Time, 1)
	if *counterURL != "" && *counter != "" {
		go pollCounter(watchCtx, *counterURL, *counter, float64(*events), countedCh)
	}
	var counted time.Time

	seen := map[string]bool{}
	var first, last time.Time
	var final procSample
	lastSample := sampleProc(pid)
	progress := time.NewTicker(2 * time.Second)
	defer progress.Stop()
	sampler := time.NewTicker(250 * time.Millisecond)
	defer sampler.Stop()
	deadline := time.After(*timeout)
	var exitedAt time.Time
	exitedCh := exited
	status := ""
loop:
	for {
		select {
		case <-ctx.Done():
			status = "failed"
			break loop
		case <-deadline:
			status = "timeout"
			break loop
		case <-exitedCh:
			exitedAt = time.Now()
			exitedCh = nil
			if *untilExit {
				status = "ok"
				last = exitedAt
				break loop
			}
			// The last records may still be on their way to the watcher.
			deadline = time.After(10 * time.Second)
		case t := <-countedCh:
			counted = t
			fmt.Fprintf(os.Stderr, "  [%s] %5.1f s: all %d input events counted (its %s)\n", *name, t.Sub(start).Seconds(), *events, *counter)
		case <-sampler.C:
			if s := sampleProc(pid); s.ok {
				lastSample = s
			}
		case <-progress.C:
			el := time.Since(start).Seconds()
			if *untilExit {
				fmt.Fprintf(os.Stderr, "  [%s] %5.1f s: running; RSS %d MiB, CPU %.1f s\n", *name, el, lastSample.rss>>20, lastSample.utime+lastSample.stime)
			} else {
				fmt.Fprintf(os.Stderr, "  [%s] %5.1f s: %d / %d window records on %s; RSS %d MiB, CPU %.1f s\n",
					*name, el, len(seen), len(expected), *topic, lastSample.rss>>20, lastSample.utime+lastSample.stime)
			}
		case o, ok := <-records:
			if !ok {
				records = nil
				continue
			}
			res.Records++
			if first.IsZero() {
				first = o.at
			}
			fmt.Fprintf(obsFile, "%s\t%s\n", o.key, o.value)
			k := string(o.key)
			if expected[k] && !seen[k] {
				seen[k] = true
				if len(seen) == len(expected) {
					last = o.at
					if exitedCh != nil { // still running: its figures up to now
						final = sampleProc(pid)
					}
					status = "ok"
					break loop
				}
			}
		}
	}
	if status == "" {
		status = "exited"
	}

	// Stop the command if it still runs: SIGTERM to its process group, then SIGKILL.
	if exitedCh != nil && status == "ok" && *linger > 0 {
		select {
		case <-exited:
			exitedCh = nil
		case <-time.After(*linger):
		}
	}
	if exitedCh != nil {
		_ = syscall.Kill(-pid, syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(*grace):
			_ = syscall.Kill(-pid, syscall.SIGKILL)
			<-exited
		}
	}
	res.Exit = cmd.ProcessState.String()

	res.Status = status
	if !last.IsZero() {
		res.WallSeconds = last.Sub(start).Seconds()
		res.EventsPerSecond = float64(*events) / res.WallSeconds
	}
	if !first.IsZero() {
		res.FirstSeconds = first.Sub(start).Seconds()
	}
	if !counted.IsZero() {
		res.CountedSeconds = counted.Sub(start).Seconds()
	}
	if final.ok {
		res.PeakRSSBytes, res.CPUUserSeconds, res.CPUSysSeconds = final.hwm, final.utime, final.stime
		res.Source = "/proc at completion"
	} else if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		res.PeakRSSBytes = ru.Maxrss << 10
		res.CPUUserSeconds = time.Duration(ru.Utime.Nano()).Seconds()
		res.CPUSysSeconds = time.Duration(ru.Stime.Nano()).Seconds()
		res.Source = "rusage at exit"
	}
	if !exitedAt.IsZero() && status == "ok" && !*untilExit {
		res.Source += fmt.Sprintf(" (exited %.1f s before the last record was seen)", last.Sub(exitedAt).Seconds())
	}

	b, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(*resultPath, append(b, '\n'), 0o644); err != nil {
		return err
	}
	firstNote := ""
	if !*untilExit {
		firstNote = fmt.Sprintf(", first record %.2f s", res.FirstSeconds)
	}
	fmt.Fprintf(os.Stderr, "  [%s] %s: %.2f s, %.0f events/s%s, peak RSS %d MiB, CPU %.1f s; %s\n",
		*name, status, res.WallSeconds, res.EventsPerSecond, firstNote, res.PeakRSSBytes>>20,
		res.CPUUserSeconds+res.CPUSysSeconds, res.Exit)
	if status != "ok" {
		return fmt.Errorf("%s: %s after %s with %d of %d window records (log: %s)",
			*name, status, time.Since(start).Round(time.Second), len(seen), len(expected), *logPath)
	}
	return nil
}

// isControlRecord reports whether m is a transaction marker. kafka-go's
// Reader hands out the commit and abort markers of a transactional topic as
// messages; a marker's key is 4 bytes (version 0, type 0 = abort or
// 1 = commit) and its value 6 bytes (version, coordinator epoch). Output keys
// (TYPE:start) are never 4 bytes long.
func isControlRecord(m kafka.Message) bool {
	return len(m.Key) == 4 && m.Key[0] == 0 && m.Key[1] == 0 && m.Key[2] == 0 && m.Key[3] <= 1 && len(m.Value) == 6
}

// pollCounter scrapes url every 100 ms and sends the time at which the
// samples of metric first add up to at least want.
func pollCounter(ctx context.Context, url, metric string, want float64, done chan<- time.Time) {
	client := &http.Client{Timeout: time.Second}
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		resp, err := client.Get(url)
		if err != nil {
			continue // not listening yet
		}
		var sum float64
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			line := sc.Text()
			if !strings.HasPrefix(line, metric) || len(line) == len(metric) || (line[len(metric)] != '{' && line[len(metric)] != ' ') {
				continue
			}
			if i := strings.LastIndexByte(line, ' '); i > 0 {
				v, err := strconv.ParseFloat(line[i+1:], 64)
				if err == nil {
					sum += v
				}
			}
		}
		resp.Body.Close()
		if sum >= want {
			done <- time.Now()
			return
		}
	}
}

type record struct{ key, value string }

// readRecords reads key TAB value lines.
func readRecords(path string) ([]record, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []record
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if sc.Text() == "" {
			continue
		}
		k, v, ok := strings.Cut(sc.Text(), "\t")
		if !ok {
			return nil, fmt.Errorf("%s: line without a tab: %q", path, sc.Text())
		}
		out = append(out, record{k, v})
	}
	return out, sc.Err()
}

// freeportCmd prints a TCP port on 127.0.0.1 that is free right now.
func freeportCmd(context.Context, []string) error {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer l.Close()
	fmt.Println(l.Addr().(*net.TCPAddr).Port)
	return nil
}
