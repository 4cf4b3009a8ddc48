package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/vehicle-stats/vehicle-stats/bench/internal/live"
	"github.com/vehicle-stats/vehicle-stats/internal/testenv/proc"
)

// result is one run: a system, a session timeout and a fault.
type result struct {
	system  string
	session string
	fault   string
	// victim is the instance hit, with ", the lease holder" when it held the closer lease.
	victim string
	// exit is how long the victim took to exit after SIGTERM; 0 after SIGKILL.
	exit time.Duration
	// leaseMoved is when another instance held the closer lease, after T;
	// 0 when it did not move (or the system has none).
	leaseMoved time.Duration
	// behindAtFault is how far the output was behind at T: now − the end
	// of the latest window out.
	behindAtFault time.Duration
	f             figures
	held          float64
	ok            bool
	check         string
}

func (r result) name() string { return fmt.Sprintf("%s, session %s, %s", r.system, r.session, r.fault) }

// parseFault splits a fault into its signal and whether it hits the holder.
func parseFault(f string) (kill, holder bool, err error) {
	switch f {
	case "kill-holder":
		return true, true, nil
	case "kill-other":
		return true, false, nil
	case "term-holder":
		return false, true, nil
	case "term-other":
		return false, false, nil
	}
	return false, false, fmt.Errorf("-faults: %q is none of kill-holder, kill-other, term-holder, term-other", f)
}

func faultName(kill, holder bool) string {
	sig := "SIGTERM"
	if kill {
		sig = "kill -9"
	}
	if holder {
		return sig + " of the lease holder"
	}
	return sig + " of a non-holder"
}

// run is what one run sets up: its topics and processes.
type run struct {
	o       options
	tag     string
	in, out string
	procs   []*proc.Process
	logf    func(string) string
}

func newRun(ctx context.Context, o options, tag string, cl *live.Cleanup, extra map[string]int) (*run, error) {
	base := "bench-fo-" + tag + "-" + o.run
	r := &run{o: o, tag: base, in: base + "-in", out: base + "-out",
		logf: func(n string) string { return filepath.Join(o.out, o.run+"-"+tag+"-"+n+".log") }}
	topics := map[string]int{r.in: o.partitions, r.out: 1}
	for name, parts := range extra {
		topics[base+name] = parts
	}
	return r, cl.CreateTopics(ctx, o.brokers, topics)
}

// stop ends every process still running.
func (r *run) stop() {
	for _, p := range r.procs {
		select {
		case <-p.Done():
			continue
		default:
		}
		// A JVM ends with 143 (128 + SIGTERM) when its shutdown hooks have run: a clean stop.
		if err := p.Stop(30 * time.Second); err != nil && p.ExitCode() != 143 {
			fmt.Fprintf(os.Stderr, "  %v\n", err)
		}
	}
}

// currentWithin is how long a run waits, after the warm-up, for the
// output to be current before the fault; the load lasts that much longer.
const currentWithin = 15 * time.Second

// latestEnd is the end of the latest window rd has seen a record of.
func latestEnd(rd *live.Reader) time.Time {
	got, _, _, _ := rd.Snapshot()
	var end time.Time
	for _, a := range got {
		end = later(end, a.End)
	}
	return end
}

// hit is a fault: it picks its victim, signals it and returns when the
// signal was sent (T), the victim's name and how long it took to exit
// (SIGTERM only).
type hit func(ctx context.Context) (t time.Time, victim string, exit time.Duration, err error)

// drive settles, starts the reader and the loader, hits after the warm-up,
// lets the loader run for after more, waits for the windows, and fills
// res's figures and check; strict makes a count that differs fail it.
func (r *run) drive(ctx context.Context, settle, after time.Duration, h hit, holder func(context.Context) string, strict bool, res *result) error {
	step("%s: settle %s, then read %s and load %s (%s, then the fault, then %s)", res.name(), settle, r.out, r.in, r.o.warmup, after)
	select {
	case <-time.After(settle):
	case <-ctx.Done():
		return ctx.Err()
	}
	if err := r.exited(); err != nil {
		return err
	}
	rd := live.NewReader()
	rctx, stopReader := context.WithCancel(ctx)
	defer stopReader()
	go rd.Run(rctx, r.o.brokers, r.out)

	loaded := make(chan live.LoadResult, 1)
	go func() {
		loaded <- live.Load(ctx, r.o.brokers, r.in, r.o.partitions, r.o.rate, r.o.warmup+currentWithin+after, r.o.window)
	}()
	select {
	case <-time.After(r.o.warmup):
	case <-ctx.Done():
		<-loaded
		return ctx.Err()
	}
	// Hit a system in its steady state: once a window that ended within the
	// last 2 s is out, or after currentWithin more at the most (shown).
	waited := time.Now()
	for time.Since(waited) < currentWithin && ctx.Err() == nil && time.Since(latestEnd(rd)) > 2*time.Second {
		time.Sleep(100 * time.Millisecond)
	}
	res.behindAtFault = time.Since(latestEnd(rd))
	if err := r.exited(); err != nil {
		<-loaded
		return err
	}
	before := holder(ctx)
	t, victim, exit, herr := h(ctx)
	res.victim, res.exit = victim, exit
	if before != "" && before == victim {
		res.victim += ", the lease holder"
	}
	// Note when the closer lease moves, while the load runs on.
	moved := make(chan time.Duration, 1)
	go func() {
		for ctx.Err() == nil && time.Since(t) < after {
			if now := holder(ctx); before != "" && now != "" && now != before {
				moved <- time.Since(t)
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		moved <- 0
	}()
	load := <-loaded
	res.leaseMoved = <-moved
	res.held = load.Held()
	fmt.Fprintf(os.Stderr, "  load: %s\n", load.Summary())
	if herr != nil {
		return herr
	}
	if load.Failed > 0 {
		return fmt.Errorf("the loader could not write %d events: %w", load.Failed, load.FirstErr)
	}
	want := live.Whole(load, r.o.window)
	deadline := time.Now().Add(r.o.wait)
	for !rd.Has(want) && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(100 * time.Millisecond)
	}
	stopReader()
	got, dups, bad, rerr := rd.Snapshot()
	if rerr != nil {
		return rerr
	}
	c := live.Compare(load.Counts, want, got)
	res.f = measureFigures(c.Measured, t, r.o.after)
	res.ok = !c.Fatal && bad == 0 && (len(c.Problems) == 0 || !strict)
	res.check = fmt.Sprintf("exact: %d events in %d windows", c.Sent, c.Windows)
	if len(c.Problems) > 0 || bad > 0 {
		slices.Sort(c.Problems)
		fmt.Fprintf(os.Stderr, "  MISMATCH for %s:\n    %s\n", res.name(), strings.Join(c.Problems[:min(len(c.Problems), 20)], "\n    "))
		res.check = fmt.Sprintf("**MISMATCH**: %d problem(s), %d undecodable record(s); %d of %d events counted", len(c.Problems), bad, c.Counted, c.Sent)
	}
	if dups > 0 {
		res.check += fmt.Sprintf("; %d duplicate record(s)", dups)
	}
	if res.f.next.IsZero() {
		res.ok = false
		res.check += "; **no window ending after the fault arrived**"
	}
	// Only the victim may have ended.
	if err := r.exited(victim); err != nil {
		res.ok = false
		res.check += "; **" + err.Error() + "**"
	}
	if !strict { // a reference system: its own count of late events explains a difference
		r.stop() // so that its log has its final count
		late := int64(0)
		for _, p := range r.procs {
			late += live.LateEvents(r.logf(p.Name))
		}
		res.check += fmt.Sprintf(" (it reported %d late events, dropped)", late)
	}
	return nil
}

// exited names a process, but those spared, that has ended.
func (r *run) exited(spared ...string) error {
	for _, p := range r.procs {
		select {
		case <-p.Done():
			if !slices.Contains(spared, p.Name) {
				return fmt.Errorf("%s exited by itself (%v); its log's tail:\n%s", p.Name, p.Err(), p.Tail(10))
			}
		default:
		}
	}
	return nil
}

// hitProcess hits p: SIGKILL, or SIGTERM and a wait of up to 30 s for its exit.
func hitProcess(p *proc.Process, kill bool) (t time.Time, exit time.Duration, err error) {
	t = time.Now()
	if kill {
		p.Kill()
		return t, 0, nil
	}
	err = p.Stop(30 * time.Second)
	exit = time.Since(t)
	if err != nil && errors.Is(err, proc.ErrNotStopped) {
		return t, exit, err
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "  %v\n", err) // A stop that is not clean is shown; the run goes on.
	}
	return t, exit, nil
}

// runOurs is one run of o.instances stats-processor instances of b with
// session timeout session, hit by fault.
func runOurs(ctx context.Context, o options, b build, session time.Duration, fault string, cl *live.Cleanup) (result, error) {
	kill, toHolder, _ := parseFault(fault)
	res := result{system: fmt.Sprintf("stats-processor (%s), %d instances", b.label, o.instances),
		session: session.String(), fault: faultName(kill, toHolder)}
	r, err := newRun(ctx, o, fmt.Sprintf("%s-%s-%s", b.label, session, fault), cl, map[string]int{"-dead": 1})
	if err != nil {
		return res, err
	}
	defer r.stop()
	cl.Groups = append(cl.Groups, r.tag)
	cl.RedisPrefixes = append(cl.RedisPrefixes, r.tag)
	cfg := proc.ProcessorConfig{
		Brokers: o.brokers, RedisAddr: o.redisAddr, KeyPrefix: r.tag,
		Input: r.in, Output: r.out, DeadLetter: r.tag + "-dead", Group: r.tag, Earliest: true,
		Window: o.window, IdleTimeout: o.idle, SessionTimeout: session,
	}
	var names []string
	for i := range o.instances {
		names = append(names, fmt.Sprintf("p%d", i+1))
	}
	step("%s: start %d instances of %s", res.name(), o.instances, b.bin)
	r.procs, err = live.StartOurs(ctx, b.bin, cfg, names, r.logf)
	if err != nil {
		return res, err
	}
	rdb := redis.NewClient(&redis.Options{Addr: o.redisAddr})
	defer rdb.Close()
	holder := func(ctx context.Context) string { return closerHolder(ctx, rdb, r.tag, r.in) }
	h := func(ctx context.Context) (time.Time, string, time.Duration, error) {
		lead := holder(ctx)
		var victim *proc.Process
		for _, p := range r.procs {
			if (p.Name == lead) == toHolder {
				victim = p
				break
			}
		}
		if lead == "" || victim == nil {
			return time.Time{}, "", 0, fmt.Errorf("no instance holds the closer lease %s (is the key's format still <prefix>:{<input>}:closer = <token>:<instance id>?)",
				closerKey(r.tag, r.in))
		}
		t, exit, err := hitProcess(victim, kill)
		return t, victim.Name, exit, err
	}
	return res, r.drive(ctx, o.settle, o.after, h, holder, true, &res)
}

// closerKey is the closer lease's key: state.Keys.Closer in
// services/stats-processor/internal/state/keys.go.
func closerKey(prefix, input string) string { return prefix + ":{" + input + "}:closer" }

// closerHolder is the instance id that holds the closer lease, "" when none
// does or Redis does not answer. The lease's value is "<token>:<instance
// id>" (state.leadScript).
func closerHolder(ctx context.Context, rdb *redis.Client, prefix, input string) string {
	v, err := rdb.Get(ctx, closerKey(prefix, input)).Result()
	if err != nil {
		return ""
	}
	_, id, _ := strings.Cut(v, ":")
	return id
}

// runStreams is one run of o.streamsN Kafka Streams instances (one
// application id) with session timeout session (0: the client's default),
// the first killed with SIGKILL.
func runStreams(ctx context.Context, o options, session time.Duration, cl *live.Cleanup) (result, error) {
	label := "default (45s)"
	if session > 0 {
		label = session.String()
	}
	res := result{system: fmt.Sprintf("%s, exactly_once_v2, %d instances", o.streamsVer, o.streamsN), session: label, fault: "kill -9 of one instance"}
	r, err := newRun(ctx, o, fmt.Sprintf("streams-%s", session), cl, nil)
	if err != nil {
		return res, err
	}
	defer r.stop()
	app := r.tag + "-app" // its internal topics are named <app>-…
	cl.Groups = append(cl.Groups, app)
	cl.TopicPrefixes = append(cl.TopicPrefixes, app+"-")
	step("%s: start %d instances", res.name(), o.streamsN)
	for i := range o.streamsN {
		name := fmt.Sprintf("s%d", i+1)
		args := live.Streams{ClassPath: o.streamsCP, Heap: o.javaHeap, Brokers: o.brokers, Input: r.in, Output: r.out, AppID: app,
			StateDir: strings.TrimSuffix(r.logf(name), ".log") + ".state", Window: o.window, SessionTimeout: session}.Args()
		p, err := proc.StartProcess(name, "java", proc.Launch{Args: args, LogPath: r.logf(name)})
		if err != nil {
			return res, err
		}
		r.procs = append(r.procs, p)
	}
	after := max(o.after, session+20*time.Second)
	if session == 0 {
		after = max(o.after, 65*time.Second)
	}
	h := func(context.Context) (time.Time, string, time.Duration, error) {
		t, exit, err := hitProcess(r.procs[0], true)
		return t, r.procs[0].Name, exit, err
	}
	none := func(context.Context) string { return "" }
	return res, r.drive(ctx, o.jvmSettle, after, h, none, false, &res)
}
