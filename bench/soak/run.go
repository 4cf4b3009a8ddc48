package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/segmentio/kafka-go"

	"github.com/vehicle-stats/vehicle-stats/internal/contracttest"
	"github.com/vehicle-stats/vehicle-stats/internal/testenv/proc"
	"github.com/vehicle-stats/vehicle-stats/internal/testenv/scratch"
)

// retention is the processors' state.retention in the soak: short, so
// that the closed windows' keys reach their steady number within the run
// (with the default 24 h they would grow all through it, by design).
const retention = 5 * time.Minute

// soak is one run in progress.
type soak struct {
	c       Config
	log     *slog.Logger
	start   time.Time
	names   topics
	prefix  string
	rdb     *redis.Client
	http    *http.Client
	slots   [Instances]*slot
	prodURL string

	mu      sync.Mutex
	samples []Sample
	// calls holds INFO commandstats (calls per command) for each sample,
	// nil where Redis did not answer.
	calls   []map[string]float64
	pending []string // faults since the last sample
	faults  []string // every fault, with its time, for the summary
	// consumerLagMax and watermarkLagMax are the largest lags polled
	// since the last sample.
	consumerLagMax, watermarkLagMax float64
}

type topics struct{ in, out, dead, late string }

// slot is one of the three processor instances, restarted under the same
// name and port after each kill.
type slot struct {
	cfg    proc.ProcessorConfig
	proc   *proc.Process
	killed bool // by the soak, so its exit is expected
	downAt time.Time
	starts int
}

func (s *slot) url() string { return "http://" + s.cfg.HTTPAddr }

// Run runs the soak: ok is false when the counts are wrong; err when the
// soak itself could not run.
func Run(ctx context.Context, c Config, log *slog.Logger) (ok bool, err error) {
	run := scratch.UniqueName("soak")
	s := &soak{c: c, log: log, start: time.Now(), prefix: run,
		names: topics{run + "-in", run + "-out", run + "-dead", run + "-late"},
		http:  &http.Client{Timeout: 3 * time.Second},
		rdb:   redis.NewClient(&redis.Options{Addr: c.RedisAddr, DialTimeout: time.Second, ReadTimeout: 3 * time.Second, MaxRetries: -1}),
	}
	defer s.rdb.Close()
	for _, t := range []struct {
		name string
		n    int
	}{{s.names.in, c.Partitions}, {s.names.out, 1}, {s.names.dead, 1}, {s.names.late, 1}} {
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err := scratch.CreateTopic(cctx, c.Brokers, t.name, t.n)
		cancel()
		if err != nil {
			return false, fmt.Errorf("create topic %s: %w", t.name, err)
		}
	}
	log.Info("soak starting", "duration", c.Duration, "rate", c.Rate, "partitions", c.Partitions,
		"input", s.names.in, "output", s.names.out, "key_prefix", s.prefix, "out", c.Out)

	producer, err := s.startProducer()
	if err != nil {
		return false, err
	}
	defer producer.Kill()
	// The producer goes first, so that no partition is empty (and no
	// window can close on an all-idle watermark) when the processors start.
	if err := s.waitFor(ctx, 30*time.Second, "the producer's first events", func() bool { return s.produced() > float64(2*c.Partitions) }); err != nil {
		return false, err
	}
	for i := range s.slots {
		if s.slots[i], err = s.newSlot(i); err != nil {
			return false, err
		}
		if err := s.startSlot(ctx, s.slots[i]); err != nil {
			return false, err
		}
	}
	defer func() {
		for _, sl := range s.slots {
			if sl != nil && sl.proc != nil {
				sl.proc.Kill()
			}
		}
	}()

	csvFile, err := os.Create(filepath.Join(c.Out, "samples.csv"))
	if err != nil {
		return false, fmt.Errorf("samples file: %w", err)
	}
	defer csvFile.Close()
	cw, err := NewCSVWriter(csvFile)
	if err != nil {
		return false, err
	}
	sampleCtx, stopSampling := context.WithCancel(context.Background())
	samplerDone := make(chan struct{})
	s.consumerLagMax, s.watermarkLagMax = math.NaN(), math.NaN()
	go func() {
		defer close(samplerDone)
		var wg sync.WaitGroup
		wg.Go(func() { s.pollLags(sampleCtx) })
		wg.Go(func() { s.sampleLoop(sampleCtx, cw) })
		wg.Wait()
	}()

	unexpected, err := s.faultLoop(ctx)
	if err != nil {
		stopSampling()
		<-samplerDone
		return false, err
	}

	s.note(ProducerStopped)
	if err := producer.Stop(60 * time.Second); err != nil {
		log.Error("producer did not stop cleanly", "err", err, "log", producer.Tail(10))
	}
	// A processor killed just before the end comes back for the drain.
	for _, sl := range s.slots {
		select {
		case <-sl.proc.Done():
			if err := s.startSlot(ctx, sl); err != nil {
				stopSampling()
				<-samplerDone
				return false, fmt.Errorf("restart %s: %w", sl.cfg.InstanceID, err)
			}
		default:
		}
	}
	log.Info("producer stopped; reading the input back")
	want, inputStats, err := s.expected(ctx)
	if err != nil {
		stopSampling()
		<-samplerDone
		return false, err
	}
	log.Info("expected counts computed", "keys", len(want), "events", inputStats.events, "late", inputStats.late, "dead", inputStats.dead)
	records, err := s.drain(ctx, want)
	stopSampling()
	<-samplerDone
	if err != nil {
		return false, err
	}
	var stopErrs []string
	for _, sl := range s.slots {
		if err := sl.proc.Stop(30 * time.Second); err != nil {
			stopErrs = append(stopErrs, err.Error())
		}
	}
	lateSeen, deadSeen, err := s.sideTopics(ctx)
	if err != nil {
		return false, err
	}

	rep := contracttest.CompareOutput(want, records, c.Window)
	sum := &strings.Builder{}
	s.writeSummary(sum, rep, inputStats, lateSeen, deadSeen, unexpected, stopErrs)
	files, err := DrawCharts(s.samples, c.Out)
	if err != nil {
		fmt.Fprintf(sum, "charts: %v\n", err)
	} else {
		fmt.Fprintf(sum, "charts: %s\n", strings.Join(files, " "))
	}
	fmt.Print(sum.String())
	if err := os.WriteFile(filepath.Join(c.Out, "summary.txt"), []byte(sum.String()), 0o644); err != nil {
		log.Error("write summary", "err", err)
	}
	ok = rep.OK() && lateSeen == inputStats.late && deadSeen == inputStats.dead && len(unexpected) == 0
	if ok {
		if err := deleteTopics(c.Brokers, s.names.in, s.names.out, s.names.dead, s.names.late); err != nil {
			log.Warn("clean up", "err", err)
		}
		s.deleteKeys()
	} else {
		log.Warn("kept the topics and Redis keys for a look", "input", s.names.in, "output", s.names.out, "key_prefix", s.prefix)
	}
	return ok, nil
}

func (s *soak) startProducer() (*proc.Process, error) {
	p, err := proc.ExecProducer(s.c.Producer, filepath.Join(s.c.Out, "producer.log"), proc.ProducerConfig{
		Brokers: s.c.Brokers, Topic: s.names.in, Rate: s.c.Rate, Seed: uint64(s.c.Seed),
		Jitter: s.c.Jitter, LateFraction: s.c.LateFraction, LateDelay: s.c.Window,
	})
	if err != nil {
		return nil, err
	}
	s.prodURL = "http://" + p.Addr
	return p.Process, nil
}

func (s *soak) newSlot(i int) (*slot, error) {
	port, err := scratch.FreePort()
	if err != nil {
		return nil, err
	}
	return &slot{cfg: proc.ProcessorConfig{
		Brokers: s.c.Brokers, RedisAddr: s.c.RedisAddr, KeyPrefix: s.prefix,
		Input: s.names.in, Output: s.names.out, DeadLetter: s.names.dead, Late: s.names.late, Group: s.prefix,
		Earliest: true, Window: s.c.Window, MaxOutOfOrderness: s.c.Jitter,
		HTTPAddr: "127.0.0.1:" + strconv.Itoa(port), InstanceID: fmt.Sprintf("soak-p%d", i),
		Extra: []string{"PROCESSOR_STATE_RETENTION=" + retention.String()},
	}}, nil
}

// startSlot starts the slot's processor and waits for /readyz.
func (s *soak) startSlot(ctx context.Context, sl *slot) error {
	p, err := proc.ExecProcessor(s.c.Processor, filepath.Join(s.c.Out, sl.cfg.InstanceID+".log"), sl.cfg)
	if err != nil {
		return err
	}
	sl.proc, sl.killed = p.Process, false
	sl.starts++
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	return p.AwaitReady(ctx)
}

// faultLoop runs the producer for the soak's duration, killing and
// restarting processors and restarting Redis on schedule. It returns the
// processor exits the soak did not cause.
func (s *soak) faultLoop(ctx context.Context) ([]string, error) {
	end := s.start.Add(s.c.Duration)
	nextKill := s.start.Add(s.c.KillEvery)
	nextRedis := s.start.Add(s.c.RedisFirst)
	victim := 0 // index into Victims
	var unexpected []string
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	// No fault in the last restart delay: the run ends with every
	// instance up.
	for time.Now().Before(end) {
		select {
		case <-ctx.Done():
			return unexpected, fmt.Errorf("interrupted: %w", ctx.Err())
		case <-tick.C:
		}
		now := time.Now()
		for _, sl := range s.slots {
			select {
			case <-sl.proc.Done():
				if !sl.killed {
					msg := fmt.Sprintf("%s exited by itself at %s: %v", sl.cfg.InstanceID, s.at(now), sl.proc.Err())
					unexpected = append(unexpected, msg)
					s.log.Error("processor exited by itself", "instance", sl.cfg.InstanceID, "err", sl.proc.Err(), "log", sl.proc.Tail(20))
					s.note(sl.cfg.InstanceID + " exited by itself")
					sl.killed, sl.downAt = true, now
				}
				if now.Sub(sl.downAt) >= s.c.RestartAfter {
					if err := s.startSlot(ctx, sl); err != nil {
						return unexpected, fmt.Errorf("restart %s: %w", sl.cfg.InstanceID, err)
					}
					s.log.Info("processor restarted", "instance", sl.cfg.InstanceID)
				}
			default:
			}
		}
		if s.c.KillEvery > 0 && !now.Before(nextKill) && now.Add(s.c.RestartAfter).Before(end) {
			sl := s.slots[s.c.Victims[victim]]
			sl.killed, sl.downAt = true, now
			sl.proc.Kill()
			s.note("SIGKILL " + sl.cfg.InstanceID)
			s.log.Info("killed with SIGKILL", "instance", sl.cfg.InstanceID)
			victim = (victim + 1) % len(s.c.Victims) // by default 1, 2, 1, 2: processor 0 lives through the run
			nextKill = nextKill.Add(s.c.KillEvery)
		}
		if s.c.RedisEvery > 0 && !now.Before(nextRedis) && now.Add(s.c.RestartAfter).Before(end) {
			nextRedis = nextRedis.Add(s.c.RedisEvery)
			t0 := time.Now()
			if err := s.stack("redis-stop"); err != nil {
				return unexpected, err
			}
			if err := s.stack("redis-start"); err != nil {
				return unexpected, err
			}
			s.note(fmt.Sprintf("redis restart (%.1f s down)", time.Since(t0).Seconds()))
			s.log.Info("Redis restarted", "took", time.Since(t0))
		}
	}
	return unexpected, nil
}

func (s *soak) stack(cmd string) error {
	out, err := exec.Command(s.c.Stack, cmd).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %w: %s", s.c.Stack, cmd, err, out)
	}
	return nil
}

// note records a fault for the next sample's event column and the summary.
func (s *soak) note(what string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pending = append(s.pending, what)
	s.faults = append(s.faults, s.at(time.Now())+" "+what)
}

func (s *soak) at(t time.Time) string {
	return fmt.Sprintf("%7.1f min", t.Sub(s.start).Minutes())
}

func (s *soak) sampleLoop(ctx context.Context, cw *CSVWriter) {
	tick := time.NewTicker(s.c.SampleEvery)
	defer tick.Stop()
	for {
		smp := s.sample(ctx)
		calls := s.commandCalls(ctx)
		s.mu.Lock()
		s.calls = append(s.calls, calls)
		smp.Event = strings.Join(s.pending, "; ")
		s.pending = nil
		smp.ConsumerLagMax = maxOf(s.consumerLagMax, smp.ConsumerLag)
		smp.WatermarkLagMax = maxOf(s.watermarkLagMax, smp.WatermarkLag)
		s.consumerLagMax, s.watermarkLagMax = math.NaN(), math.NaN()
		if n := len(s.samples); n > 0 {
			smp.RedisOpsPerSec = OpsPerSecond(s.samples[n-1], smp)
		}
		s.samples = append(s.samples, smp)
		s.mu.Unlock()
		if err := cw.Write(smp); err != nil {
			s.log.Error("write sample", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// pollLags notes the largest consumer lag and watermark lag every second
// until ctx ends; each sample takes and resets them. The watermark lag is
// processor 0's metric (the closer of every instance computes it each
// round), so polling it costs Redis nothing; the consumer lag costs one
// HGET per partition.
func (s *soak) pollLags(ctx context.Context) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		lag, err := s.consumerLag(rctx)
		cancel()
		if err == nil {
			s.mu.Lock()
			s.consumerLagMax = maxOf(s.consumerLagMax, lag)
			s.mu.Unlock()
		}
		if m, err := s.metrics(s.slots[0]); err == nil {
			if v, ok := m["stats_processor_watermark_lag_seconds"]; ok {
				s.mu.Lock()
				s.watermarkLagMax = maxOf(s.watermarkLagMax, v)
				s.mu.Unlock()
			}
		}
	}
}

// sample takes one sample; what does not answer stays missing.
func (s *soak) sample(ctx context.Context) Sample {
	now := time.Now()
	smp := NewSample(now, now.Sub(s.start))
	for i, sl := range s.slots {
		m, err := s.metrics(sl)
		if err != nil {
			continue
		}
		in := &smp.Instances[i]
		for _, f := range []struct {
			dst  *float64
			name string
		}{
			{&in.RSS, "process_resident_memory_bytes"}, {&in.Heap, "go_memstats_heap_alloc_bytes"},
			{&in.Goroutines, "go_goroutines"}, {&in.OpenFDs, "process_open_fds"},
			{&in.CPU, "process_cpu_seconds_total"}, {&in.Partitions, "stats_processor_assigned_partitions"},
			{&in.GoSys, "go_memstats_sys_bytes"}, {&in.HeapReleased, "go_memstats_heap_released_bytes"},
		} {
			if v, ok := m[f.name]; ok {
				*f.dst = v
			}
		}
	}
	rctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	if info, err := s.rdb.Info(rctx, "memory", "stats").Result(); err == nil {
		smp.RedisMemory = infoField(info, "used_memory")
		smp.RedisCommands = infoField(info, "total_commands_processed")
	}
	if n, err := s.rdb.DBSize(rctx).Result(); err == nil {
		smp.RedisKeys = float64(n)
	}
	if lag, err := s.consumerLag(rctx); err == nil {
		smp.ConsumerLag = lag
	}
	if wm, err := s.watermark(); err == nil {
		smp.WatermarkLag = now.Sub(wm).Seconds()
	}
	smp.Produced = s.produced()
	return smp
}

func (s *soak) metrics(sl *slot) (map[string]float64, error) {
	if sl == nil {
		return nil, errors.New("not started")
	}
	resp, err := s.http.Get(sl.url() + "/metrics")
	if err != nil {
		return nil, fmt.Errorf("metrics of %s: %w", sl.cfg.InstanceID, err)
	}
	defer resp.Body.Close()
	return ParseMetrics(resp.Body)
}

// commandCalls reads INFO commandstats: calls per command.
func (s *soak) commandCalls(ctx context.Context) map[string]float64 {
	rctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	info, err := s.rdb.Info(rctx, "commandstats").Result()
	if err != nil {
		return nil
	}
	return ParseCommandStats(info)
}

// consumerLag is the input's end offsets minus the offsets saved in
// Redis, summed over partitions.
func (s *soak) consumerLag(ctx context.Context) (float64, error) {
	ends, err := contracttest.EndOffsets(ctx, s.c.Brokers, s.names.in, s.c.Partitions)
	if err != nil {
		return math.NaN(), err
	}
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.StringCmd, len(ends))
	for p := range ends {
		cmds[p] = pipe.HGet(ctx, s.prefix+":{"+s.names.in+"."+strconv.Itoa(p)+"}", "offset")
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return math.NaN(), fmt.Errorf("saved offsets: %w", err)
	}
	var lag float64
	for p, end := range ends {
		saved, err := cmds[p].Int64()
		if err != nil && !errors.Is(err, redis.Nil) {
			return math.NaN(), fmt.Errorf("saved offset of %d: %w", p, err)
		}
		lag += float64(end - saved)
	}
	return lag, nil
}

// watermark is the pipeline watermark from /stats of the first instance
// that answers.
func (s *soak) watermark() (time.Time, error) {
	var last error
	for _, sl := range s.slots {
		resp, err := s.http.Get(sl.url() + "/stats?limit=1")
		if err != nil {
			last = err
			continue
		}
		var body struct {
			Watermark *string `json:"watermark"`
		}
		err = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK || body.Watermark == nil {
			last = fmt.Errorf("stats of %s: status %d, %v", sl.cfg.InstanceID, resp.StatusCode, err)
			continue
		}
		return time.Parse(time.RFC3339Nano, *body.Watermark)
	}
	return time.Time{}, last
}

// produced is the producer's count of acknowledged events (NaN when it
// does not answer).
func (s *soak) produced() float64 {
	resp, err := s.http.Get(s.prodURL + "/status")
	if err != nil {
		return math.NaN()
	}
	defer resp.Body.Close()
	var st struct {
		Sent float64 `json:"sent"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return math.NaN()
	}
	return st.Sent
}

func infoField(info, name string) float64 {
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), name+":"); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err == nil {
				return f
			}
		}
	}
	return math.NaN()
}

// inputStats is what reading the input back found.
type inputStats struct {
	records, events, late, dead int
}

// expected reads the whole input topic (the producer has stopped) and
// computes the contract's counts with the end-to-end tests' oracle
// (contracttest.ExpectedLog): the same decoder and far-future rule as the
// processor, lateness per partition in log order.
func (s *soak) expected(ctx context.Context) (map[contracttest.Key]int64, inputStats, error) {
	var st inputStats
	var log []contracttest.Input
	ends, err := contracttest.EndOffsets(ctx, s.c.Brokers, s.names.in, s.c.Partitions)
	if err != nil {
		return nil, st, err
	}
	for p := range s.c.Partitions {
		err := contracttest.ReadPartition(ctx, s.c.Brokers, s.names.in, p, 0, ends[p], func(m kafka.Message) {
			// The soak's records all have timestamps; one without would be
			// measured from the processor's read time, which now only
			// approximates.
			log = append(log, contracttest.Input{Partition: p, Value: m.Value, RecordTime: recordTime(m)})
		})
		if err != nil {
			return nil, st, err
		}
	}
	r := contracttest.ExpectedLog(log, contracttest.Settings{Window: s.c.Window, MaxOutOfOrderness: s.c.Jitter, MaxFuture: time.Hour}, time.Now().UnixMilli())
	st.records, st.events, st.late, st.dead = len(log), r.Events, r.Late, r.Bad
	return r.Counts, st, nil
}

// recordTime is m's timestamp in epoch ms, 0 when it has none.
func recordTime(m kafka.Message) int64 {
	if m.Time.IsZero() {
		return 0
	}
	return m.Time.UnixMilli()
}

// drain reads the output topic until every expected key is there or the
// drain time is up, and returns every record read.
func (s *soak) drain(ctx context.Context, want map[contracttest.Key]int64) ([]contracttest.OutputRecord, error) {
	keys := map[string]bool{}
	for k := range want {
		keys[k.OutputKey()] = true
	}
	var records []contracttest.OutputRecord
	found := map[string]bool{}
	var next int64
	deadline := time.Now().Add(s.c.Drain)
	for {
		ends, err := contracttest.EndOffsets(ctx, s.c.Brokers, s.names.out, 1)
		if err != nil {
			return nil, err
		}
		err = contracttest.ReadPartition(ctx, s.c.Brokers, s.names.out, 0, next, ends[0], func(m kafka.Message) {
			records = append(records, contracttest.OutputRecord{Key: m.Key, Value: m.Value, Offset: m.Offset, Time: m.Time.UnixMilli()})
			if keys[string(m.Key)] {
				found[string(m.Key)] = true
			}
		})
		if err != nil {
			return nil, err
		}
		next = ends[0]
		if len(found) == len(keys) {
			s.log.Info("every expected window record is on the output topic", "records", len(records))
			// One more look after the processors had time to write
			// anything they should not have.
			time.Sleep(2 * s.c.SampleEvery)
			ends, err := contracttest.EndOffsets(ctx, s.c.Brokers, s.names.out, 1)
			if err != nil {
				return nil, err
			}
			err = contracttest.ReadPartition(ctx, s.c.Brokers, s.names.out, 0, next, ends[0], func(m kafka.Message) {
				records = append(records, contracttest.OutputRecord{Key: m.Key, Value: m.Value, Offset: m.Offset, Time: m.Time.UnixMilli()})
			})
			return records, err
		}
		if time.Now().After(deadline) {
			s.log.Warn("drain time is up", "expected", len(keys), "found", len(found))
			return records, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("interrupted while draining: %w", ctx.Err())
		case <-time.After(2 * time.Second):
		}
	}
}

// sideTopics counts the distinct late events on the late topic (it is
// at-least-once: a replay may write one twice) and the dead letters.
func (s *soak) sideTopics(ctx context.Context) (late, dead int, err error) {
	distinct := map[string]struct{}{}
	if err := contracttest.ReadAll(ctx, s.c.Brokers, s.names.late, func(m kafka.Message) { distinct[string(m.Value)] = struct{}{} }); err != nil {
		return 0, 0, err
	}
	deadValues := map[string]struct{}{}
	if err := contracttest.ReadAll(ctx, s.c.Brokers, s.names.dead, func(m kafka.Message) { deadValues[string(m.Value)] = struct{}{} }); err != nil {
		return 0, 0, err
	}
	return len(distinct), len(deadValues), nil
}

func (s *soak) writeSummary(w io.Writer, rep contracttest.CountReport, in inputStats, lateSeen, deadSeen int, unexpected, stopErrs []string) {
	fmt.Fprintf(w, "\nsoak: %s at %.0f events/s over %d partitions, 3 processors, window %s, jitter %s, %.1f%% late\n",
		s.c.Duration, s.c.Rate, s.c.Partitions, s.c.Window, s.c.Jitter, 100*s.c.LateFraction)
	fmt.Fprintf(w, "faults (%d):\n", len(s.faults))
	for _, f := range s.faults {
		fmt.Fprintf(w, "  %s\n", f)
	}
	for _, sl := range s.slots {
		fmt.Fprintf(w, "%s: started %d time(s)\n", sl.cfg.InstanceID, sl.starts)
	}
	fmt.Fprintf(w, "killed in turn: processors %s (the others never)\n", strings.Trim(fmt.Sprint(s.c.Victims), "[]"))
	fmt.Fprintf(w, "input: %d records read back, %d events counted by the oracle, %d late, %d bad\n", in.records, in.events-in.late, in.late, in.dead)
	fmt.Fprintf(w, "output: %d records, %d keys expected, %d correct, %d byte-identical repeats (allowed after a crash)\n",
		rep.Records, rep.Expected, rep.Correct, rep.Duplicates)
	fmt.Fprintf(w, "  missing %d, wrong count %d, two values %d, unexpected %d, invalid %d\n",
		len(rep.Missing), len(rep.Wrong), len(rep.Conflicting), len(rep.Extra), len(rep.Undecodable))
	for _, l := range rep.Describe(20) {
		fmt.Fprintln(w, l)
	}
	fmt.Fprintf(w, "late topic: %d distinct events, oracle %d late: %s\n", lateSeen, in.late, verdictWord(lateSeen == in.late))
	fmt.Fprintf(w, "dead-letter topic: %d distinct records, oracle %d bad: %s\n", deadSeen, in.dead, verdictWord(deadSeen == in.dead))
	for _, u := range unexpected {
		fmt.Fprintf(w, "UNEXPECTED: %s\n", u)
	}
	for _, e := range stopErrs {
		fmt.Fprintf(w, "stop: %s\n", e)
	}
	counts := "EXACT: every (window, type) written with its expected count, none with two values"
	if !rep.OK() {
		counts = "MISMATCH: see above"
	}
	fmt.Fprintf(w, "counts: %s\n", counts)
	WriteResources(w, s.samples)
	if line := CommandRates(s.samples, s.calls); line != "" {
		fmt.Fprintln(w, line)
	}
	fmt.Fprintln(w, Conclusion(JudgeTail(s.samples, 1.0/3)))
	var cpu float64
	for i := range Instances {
		cpu += cpuSeconds(s.samples, i)
	}
	if in.records > 0 {
		fmt.Fprintf(w, "processor CPU: %.0f s in all, %.1f s per million input records (restarts included)\n", cpu, cpu/float64(in.records)*1e6)
	}
}

// cpuSeconds adds up one slot's CPU over the run: the last sample of each
// process life (a restart resets the counter).
func cpuSeconds(samples []Sample, i int) float64 {
	var total, last float64
	for k := range samples {
		v := samples[k].Instances[i].CPU
		if math.IsNaN(v) {
			continue
		}
		if v < last {
			total += last
		}
		last = v
	}
	return total + last
}

func verdictWord(ok bool) string {
	if ok {
		return "equal"
	}
	return "DIFFERENT"
}

func (s *soak) deleteKeys() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_ = scratch.DeleteKeys(ctx, s.rdb, s.prefix+":*")
}

func (s *soak) waitFor(ctx context.Context, limit time.Duration, what string, cond func() bool) error {
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			return fmt.Errorf("waited %s for %s", limit, what)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("interrupted while waiting for %s: %w", what, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
	return nil
}

func deleteTopics(brokers []string, topics ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return scratch.DeleteTopics(ctx, brokers, topics...)
}
