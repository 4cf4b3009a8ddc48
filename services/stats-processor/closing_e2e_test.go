package main_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/segmentio/kafka-go"

	"github.com/vehicle-stats/vehicle-stats/internal/contracttest"
	"github.com/vehicle-stats/vehicle-stats/internal/testenv"
	"github.com/vehicle-stats/vehicle-stats/internal/testenv/proc"
	"github.com/vehicle-stats/vehicle-stats/pkg/model"
)

// End-to-end tests of the closing protocol under faults (issue: closing
// windows that stays exact under every fault). Each ends with the exact
// output check, which also fails on any key written with two values.

// TestE2EPartitionsAdded: the input topic grows from 3 to 6 partitions
// while two instances count live traffic that started at the topic's end
// (kafka.start_offset latest); the new partitions' events are newer than
// anything closed, so none is late, and all of them count: the closer holds
// the windows until the new partitions are saved, and they are read from
// their beginning.
func TestE2EPartitionsAdded(t *testing.T) {
	s := newScenario(t, 3)
	s.cfg.Earliest = false
	ctx := context.Background()
	a, b := s.start("a"), s.start("b")
	waitReady(t, a.Addr, "", 60*time.Second)
	waitReady(t, b.Addr, "", 60*time.Second)
	time.Sleep(2 * time.Second) // the workers saved their start positions

	first := contracttest.Dataset(21, 3, 1200, base(), s.ooo)
	const half = 600
	var maxT int64
	var phase1, phase2 [][]contracttest.Record
	for p := range first {
		phase1 = append(phase1, first[p][:half])
		phase2 = append(phase2, first[p][half:])
		for _, r := range first[p][:half] {
			maxT = max(maxT, r.EventTime)
		}
	}
	for _, c := range contracttest.Interleave(phase1, 50) {
		s.produce(ctx, c)
		time.Sleep(50 * time.Millisecond)
	}
	growTopic(t, s.env.Brokers, s.cfg.Input, 6)
	added := contracttest.Dataset(22, 6, 600, maxT+s.window.Milliseconds(), s.ooo)[3:]
	all := append(first, added...)
	phase2 = append(phase2, added...)
	for _, c := range contracttest.Interleave(phase2, 50) {
		s.produce(ctx, c)
		time.Sleep(50 * time.Millisecond)
	}
	want, late, bad := contracttest.ExpectedRecords(all, s.window, s.ooo)
	t.Logf("dataset: %d windows x types, %d late, %d bad, 3 partitions added mid-stream", len(want), late, bad)
	s.waitOutput(want)
	s.checkDeadLetters(all)
	s.checkStats(a.Addr, want)
	stop(t, a)
	stop(t, b)
}

// TestE2ECloserFrozen: three instances while data flows; the holder of the
// closer lease is frozen with SIGSTOP past its lease and its group session,
// twice, and resumed with SIGCONT: a newer closer takes over meanwhile, and
// the frozen one, resuming wherever it stood, is fenced out.
func TestE2ECloserFrozen(t *testing.T) {
	s := newScenario(t, 4)
	data := contracttest.Dataset(23, 4, 6000, base(), s.ooo) // about 25 s of traffic: two freezes of 9 s
	want, _, _ := contracttest.ExpectedRecords(data, s.window, s.ooo)
	chunks := contracttest.Interleave(data, 50)
	ctx := context.Background()
	s.produce(ctx, chunks[0])
	procs := []*proc.Service{s.start("a"), s.start("b"), s.start("c")}
	var frozen *proc.Service
	var frozenAt time.Time
	freezes := 0
	for i, c := range chunks[1:] {
		s.produce(ctx, c)
		time.Sleep(150 * time.Millisecond)
		switch {
		case frozen == nil && freezes < 2 && i%12 == 5:
			if frozen = leader(t, procs); frozen != nil {
				_ = syscall.Kill(frozen.Pid(), syscall.SIGSTOP)
				frozenAt = time.Now()
				freezes++
				t.Logf("froze the closer %s (SIGSTOP)", frozen.Addr)
			}
		case frozen != nil && time.Since(frozenAt) > 9*time.Second: // lease 5 s, session 6 s
			_ = syscall.Kill(frozen.Pid(), syscall.SIGCONT)
			t.Logf("resumed %s (SIGCONT) after %s", frozen.Addr, time.Since(frozenAt).Round(time.Second))
			frozen = nil
		}
	}
	if frozen != nil {
		_ = syscall.Kill(frozen.Pid(), syscall.SIGCONT)
	}
	if freezes < 2 {
		t.Fatalf("the closer was frozen %d times, want 2", freezes)
	}
	s.waitOutput(want)
	s.checkDeadLetters(data)
	s.checkStats(procs[0].Addr, want)
}

// leader is the instance whose closer holds the lease, or nil.
func leader(t *testing.T, procs []*proc.Service) *proc.Service {
	for _, p := range procs {
		if strings.Contains(get(t, "http://"+p.Addr+"/metrics"), "\nstats_processor_closer_leader 1\n") {
			return p
		}
	}
	return nil
}

// TestE2ERedisBackInTime: every partition goes idle and the wall-clock
// watermark closes the last windows; then Redis goes back to a snapshot
// taken before that close (what a lost last second of AOF, or a failover to
// a replica behind, does), and stragglers for the closed windows arrive.
// The records on the topic are the truth: no key gets a second value.
func TestE2ERedisBackInTime(t *testing.T) {
	r := runToIdleClose(t, 24, "solo")
	s, data, want, p, rdb, snap := r.s, r.data, r.want, r.p, r.rdb, r.snap
	ctx := context.Background()

	restore(t, rdb, s.cfg.KeyPrefix, snap)
	t.Log("Redis went back to before the idle close")
	var stragglers []contracttest.Record
	for part := range data {
		var last contracttest.Record
		for _, r := range data[part] {
			if !r.Bad {
				last = r
			}
		}
		for i := range 3 {
			r := last
			r.Key = "STRAGGLER-" + itoa(part) + "-" + itoa(i)
			stragglers = append(stragglers, r)
		}
	}
	s.produce(ctx, stragglers)
	// The partitions turn busy, then idle again, and the closer runs: it
	// must restore the windows from the topic before closing anything.
	deadline := time.Now().Add(90 * time.Second)
	for !strings.Contains(p.Tail(1000), "records on the output topic that Redis does not know of") {
		if time.Now().After(deadline) {
			t.Fatal("the processor did not restore the closed windows from the output topic within 90 s")
		}
		time.Sleep(200 * time.Millisecond)
	}
	for _, line := range strings.Split(p.Tail(1000), "\n") {
		if strings.Contains(line, "records on the output topic that Redis does not know of") {
			t.Logf("processor: %s", line)
		}
	}
	// The windows close again once the watermark passes them (the
	// stragglers made their partitions busy: after the idle timeout), with
	// the values read back from the topic, not the stragglers' counts.
	s.waitStatsClosed(p.Addr, want)
	s.checkOutput(readAll(t, s.env.Brokers, s.cfg.Output), want)
}

// idleClosed is a pipeline run by runToIdleClose.
type idleClosed struct {
	s    *scenario
	data [][]contracttest.Record
	want map[contracttest.Key]int64
	p    *proc.Service
	rdb  *redis.Client
	snap map[string]dumped // Redis before the idle close of the last windows
}

// runToIdleClose preloads two partitions with the dataset of seed, runs
// one instance (name) with a 10 s idle timeout over them, snapshots Redis
// once every partition saved its last offset (before the idle close of the
// last windows: the time the idle timeout gives) and waits until every
// window is on the output topic.
func runToIdleClose(t *testing.T, seed uint64, name string) idleClosed {
	t.Helper()
	r := idleClosed{s: newScenario(t, 2)}
	r.s.cfg.IdleTimeout = 10 * time.Second
	r.data = contracttest.Dataset(seed, 2, 800, base(), r.s.ooo)
	r.want, _, _ = contracttest.ExpectedRecords(r.data, r.s.window, r.s.ooo)
	for _, c := range contracttest.Interleave(r.data, 400) {
		r.s.produce(context.Background(), c)
	}
	r.p = r.s.start(name)
	r.rdb = redis.NewClient(&redis.Options{Addr: r.s.env.RedisAddr})
	t.Cleanup(func() { r.rdb.Close() })
	waitSaved(t, r.rdb, r.s.cfg.KeyPrefix, r.s.cfg.Input, 2, 800)
	r.snap = snapshot(t, r.rdb, r.s.cfg.KeyPrefix)
	r.s.waitOutput(r.want)
	return r
}

// waitSaved waits until every partition saved an offset at the end.
func waitSaved(t *testing.T, rdb *redis.Client, prefix, topic string, partitions int, end int64) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		done := 0
		for p := range partitions {
			off, _ := rdb.HGet(context.Background(), prefix+":{"+topic+"."+itoa(p)+"}", "offset").Int64()
			if off >= end {
				done++
			}
		}
		if done == partitions {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatal("the partitions did not save their last offsets within 60 s")
}

type dumped struct {
	value string
	ttl   time.Duration
}

// snapshot dumps every key under prefix as of one moment, as a Redis that
// lost its last writes would hold them: the dumps run in one MULTI, and the
// key list is read again after it, the whole retried until no key came or
// went in between. (Dumping key by key raced with the closer: a meta dumped
// after a close beside a key list read before it is a state no Redis ever
// had.)
func snapshot(t *testing.T, rdb *redis.Client, prefix string) map[string]dumped {
	t.Helper()
	ctx := context.Background()
	for range 50 {
		keys, err := rdb.Keys(ctx, prefix+":*").Result()
		if err != nil {
			t.Fatal(err)
		}
		dumps := make([]*redis.StringCmd, len(keys))
		ttls := make([]*redis.DurationCmd, len(keys))
		if _, err := rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
			for i, k := range keys {
				dumps[i] = p.Dump(ctx, k)
				ttls[i] = p.PTTL(ctx, k)
			}
			return nil
		}); err != nil && err != redis.Nil {
			t.Fatal(err)
		}
		after, err := rdb.Keys(ctx, prefix+":*").Result()
		if err != nil {
			t.Fatal(err)
		}
		if !sameKeys(keys, after) {
			continue
		}
		out := map[string]dumped{}
		for i, k := range keys {
			if v, err := dumps[i].Result(); err == nil {
				out[k] = dumped{v, max(ttls[i].Val(), 0)}
			}
		}
		return out
	}
	t.Fatal("the keys kept changing; no consistent snapshot in 50 tries")
	return nil
}

func sameKeys(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	seen := make(map[string]bool, len(a))
	for _, k := range a {
		seen[k] = true
	}
	for _, k := range b {
		if !seen[k] {
			return false
		}
	}
	return true
}

// restore puts the keys under prefix back to snap (dumped keys restored,
// newer ones deleted) in one MULTI, so that the running processor sees
// Redis jump from now to then, as after a restart or a failover, and never
// a mix of the two.
func restore(t *testing.T, rdb *redis.Client, prefix string, snap map[string]dumped) {
	t.Helper()
	ctx := context.Background()
	keys, err := rdb.Keys(ctx, prefix+":*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		for _, k := range keys {
			if _, ok := snap[k]; !ok {
				p.Del(ctx, k)
			}
		}
		for k, d := range snap {
			p.RestoreReplace(ctx, k, d.ttl, d.value)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// TestE2ETopicRecreated: the input topic is deleted and recreated under a
// running processor, with fewer records than the saved offsets: /readyz
// turns 503 naming the partitions, the metric says so, nothing is counted
// from the new log; `stats-processor reset` (after --dry-run) deletes the
// pipeline's state and group, and a new start counts the new topic exactly.
func TestE2ETopicRecreated(t *testing.T) {
	s := newScenario(t, 2)
	ctx := context.Background()
	old := contracttest.Dataset(25, 2, 600, base(), s.ooo)
	oldWant, _, _ := contracttest.ExpectedRecords(old, s.window, s.ooo)
	for _, c := range contracttest.Interleave(old, 300) {
		s.produce(ctx, c)
	}
	p := s.start("r1")
	s.waitOutput(oldWant)

	s.env.RecreateTopic(t, s.cfg.Input, 2)
	fresh := contracttest.Dataset(26, 2, 100, base()-2*time.Hour.Milliseconds(), s.ooo)
	for _, c := range contracttest.Interleave(fresh, 100) {
		s.produce(ctx, c)
	}
	waitReady(t, p.Addr, "input_offsets", 90*time.Second)
	body := get(t, "http://"+p.Addr+"/readyz")
	if !strings.Contains(body, s.cfg.Input+"/0") || !strings.Contains(body, "stats-processor reset") {
		t.Errorf("/readyz does not name the partition and the way out: %s", body)
	}
	if m := get(t, "http://"+p.Addr+"/metrics"); !strings.Contains(m, `stats_processor_offset_beyond_log_end{partition="0"} 1`) {
		t.Error("the offset_beyond_log_end metric is not 1 for partition 0")
	}
	stop(t, p)

	bin := testenv.Binary(t, "./services/stats-processor", true)
	reset := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(bin, append([]string{"reset", "--config", "/dev/null"}, args...)...)
		cmd.Env = append(cmd.Environ(), s.cfg.Env()...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("reset %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	if out := reset("--dry-run"); !strings.Contains(out, "dry run: nothing was deleted") || !strings.Contains(out, "Redis keys:") {
		t.Fatalf("dry run:\n%s", out)
	}
	out := reset("--yes")
	t.Logf("reset:\n%s", out)
	if !strings.Contains(out, "deleted") {
		t.Fatalf("reset did not delete:\n%s", out)
	}
	// The new topic, counted from its beginning into fresh output topics.
	s.cfg.Output = s.env.Topic(t, "e2e-out2", 1)
	s.cfg.DeadLetter = s.env.Topic(t, "e2e-dead2", 1)
	s.cfg.Late = s.env.Topic(t, "e2e-late2", 1)
	freshWant, _, _ := contracttest.ExpectedRecords(fresh, s.window, s.ooo)
	p2 := s.start("r2")
	s.waitOutput(freshWant)
	s.checkDeadLetters(fresh)
	waitReady(t, p2.Addr, "", 30*time.Second)
	stop(t, p2)
}

// TestE2ETopicRecreatedAndGrown: the input topic is deleted and created
// again while the processor is stopped, and grows past the saved offsets
// before it starts: the offsets alone look fine, but the record before each
// saved offset is another one. The processor must not count the new
// history on top of the old state: it stops the partitions and says how
// to get out.
func TestE2ETopicRecreatedAndGrown(t *testing.T) {
	s := newScenario(t, 2)
	ctx := context.Background()
	old := contracttest.Dataset(28, 2, 300, base(), s.ooo)
	oldWant, _, _ := contracttest.ExpectedRecords(old, s.window, s.ooo)
	for _, c := range contracttest.Interleave(old, 300) {
		s.produce(ctx, c)
	}
	p := s.start("g1")
	s.waitOutput(oldWant)
	stop(t, p)

	s.env.RecreateTopic(t, s.cfg.Input, 2)
	fresh := contracttest.Dataset(29, 2, 600, base()-2*time.Hour.Milliseconds(), s.ooo)
	for _, c := range contracttest.Interleave(fresh, 100) {
		s.produce(ctx, c)
	}
	p2 := proc.StartProcessorListening(t, "g2", s.cfg) // it refuses the partitions: never ready
	waitReady(t, p2.Addr, "input_offsets", 90*time.Second)
	body := get(t, "http://"+p2.Addr+"/readyz")
	if !strings.Contains(body, "holds another record before the saved offset") || !strings.Contains(body, "stats-processor reset") {
		t.Errorf("/readyz does not say the history changed and the way out: %s", body)
	}
	time.Sleep(2 * time.Second)
	s.checkOutput(readAll(t, s.env.Brokers, s.cfg.Output), oldWant) // nothing of the new history counted
	stop(t, p2)
}

// TestE2EStatsAfterReplay: a topic of events older than state.retention
// is processed; once the stream is quiet, /stats still lists every window
// (retention counts from when a window closed, not from its event time).
// The retention is 2 h here and the events 3 h old: day-old events, with
// the default 24 h, were within reach of the local broker's own 24 h log
// retention, which now and then deleted the output before the test read it.
func TestE2EStatsAfterReplay(t *testing.T) {
	s := newScenario(t, 2)
	s.cfg.Extra = append(s.cfg.Extra, "PROCESSOR_STATE_RETENTION=2h")
	data := contracttest.Dataset(27, 2, 600, time.Now().Add(-3*time.Hour).UnixMilli(), s.ooo)
	want, _, _ := contracttest.ExpectedRecords(data, s.window, s.ooo)
	ctx := context.Background()
	for _, c := range contracttest.Interleave(data, 300) {
		s.produce(ctx, c)
	}
	p := s.start("replay")
	s.waitOutput(want)
	time.Sleep(2 * time.Second) // a few more closer rounds on the wall clock
	s.checkStats(p.Addr, want)
	stop(t, p)
}

func growTopic(t *testing.T, brokers []string, topic string, partitions int) {
	t.Helper()
	c := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 10 * time.Second}
	resp, err := c.CreatePartitions(context.Background(), &kafka.CreatePartitionsRequest{
		Topics: []kafka.TopicPartitionsConfig{{Name: topic, Count: int32(partitions)}}})
	if err != nil || (len(resp.Errors) > 0 && resp.Errors[topic] != nil) {
		t.Fatalf("grow %s to %d partitions: %v %v", topic, partitions, err, resp)
	}
	waitPartitions(t, c, topic, partitions)
	t.Logf("%s now has %d partitions", topic, partitions)
}

func waitPartitions(t *testing.T, c *kafka.Client, topic string, partitions int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		md, err := c.Metadata(context.Background(), &kafka.MetadataRequest{Topics: []string{topic}})
		if err == nil && len(md.Topics) == 1 && md.Topics[0].Error == nil && len(md.Topics[0].Partitions) == partitions {
			ok := true
			for _, p := range md.Topics[0].Partitions {
				ok = ok && p.Leader.ID >= 0
			}
			if ok {
				return
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("%s does not show %d partitions with leaders", topic, partitions)
}

// TestE2ERedisBackInTimeAndPartitionAdded: faults in combination. The
// windows of two partitions are closed and emitted; the processor is
// killed, Redis goes back to before the last windows' (idle) close, and a
// partition is added with events in the emitted windows and in later ones,
// all before the processor starts again. The added partition's events in
// windows Redis still knows closed are late at its worker. Those in the
// windows whose close Redis lost are counted by the worker (it was not told
// they closed); the closer, after its grace, reads those windows back from
// the topic (their records say they cover 2 partitions) and keeps their
// values: the added partition's events of a type the window has a record
// of are reported late; a type it has no record of is decided from the
// partials of all 3 partitions, as any window not read back (its record
// may have been lost in a partial write: no record is no evidence of
// zero). Every key keeps one value, the later windows are exact, and
// late_events_total is exactly the added partition's late events.
func TestE2ERedisBackInTimeAndPartitionAdded(t *testing.T) {
	r := runToIdleClose(t, 25, "first")
	s, want, rdb, snap := r.s, r.want, r.rdb, r.snap
	ctx := context.Background()
	r.p.Kill()
	restore(t, rdb, s.cfg.KeyPrefix, snap)
	size := s.window.Milliseconds()
	lo, hi := int64(math.MaxInt64), int64(math.MinInt64)
	for k := range want {
		lo, hi = min(lo, k.Start), max(hi, k.Start+size)
	}
	known, err := rdb.HGet(ctx, s.cfg.KeyPrefix+":{"+s.cfg.Input+"}:meta", "closed").Int64()
	if errors.Is(err, redis.Nil) {
		known = lo // the snapshot came before any close
	} else if err != nil {
		t.Fatalf("the snapshot's closed bound: %v", err)
	}
	if known >= hi {
		t.Fatalf("the snapshot already has every window closed (through %d): nothing for Redis to lose", known)
	}
	t.Logf("processor killed, Redis went back to windows closed through %s; %d lost their close", model.TimeFromMillis(known), (hi-known)/size)

	growTopic(t, s.env.Brokers, s.cfg.Input, 3)
	var added []contracttest.Record
	for i := range 60 { // in time order: none is late by its own partition's watermark
		var et int64
		switch {
		case i < 30: // in the windows Redis still knows closed, if any
			et = lo + int64(i)*(known-lo)/30
		case i < 40: // in the windows whose close Redis lost
			et = known + int64(i-30)*(hi-known)/10
		default: // after the emitted windows
			et = hi + int64(i-40)*700
		}
		typ := model.VehicleTypes()[i%2]
		added = append(added, contracttest.NewRecord(2, fmt.Sprintf("ADDED-%02d", i), i, et, typ, contracttest.EpochMillis))
	}
	s.produce(ctx, added)
	want2 := maps.Clone(want)
	late := 0
	for _, r := range added {
		k := contracttest.Key{Start: model.WindowStart(r.EventTime, size), Type: r.Type}
		switch {
		case k.Start+size <= known: // late at the worker
			late++
		case k.Start+size <= hi && want[k] > 0: // late by the closer: the window's record of the type stays
			late++
		default:
			want2[k]++
		}
	}
	t.Logf("partition 2 added: %d of its %d events late", late, len(added))

	second := s.start("second")
	s.waitOutput(want2)
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(get(t, "http://"+second.Addr+"/metrics"), "stats_processor_late_events_total "+itoa(late)+"\n") {
		if time.Now().After(deadline) {
			t.Fatalf("late_events_total never reached %d within 60 s:\n%s", late, grepLines(get(t, "http://"+second.Addr+"/metrics"), "late_events_total"))
		}
		time.Sleep(500 * time.Millisecond)
	}
	if !strings.Contains(second.Tail(2000), "then Redis lost its decision") {
		t.Error("the processor did not log the windows whose added partition's events it reported late")
	}
	s.waitStatsClosed(second.Addr, want2)
	s.checkOutput(readAll(t, s.env.Brokers, s.cfg.Output), want2)
	stop(t, second)
}

// grepLines returns the lines of text that contain sub.
func grepLines(text, sub string) string {
	var out []string
	for line := range strings.SplitSeq(text, "\n") {
		if strings.Contains(line, sub) {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}
