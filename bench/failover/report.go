package main

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"time"
)

// failoverIntro opens the Failover section of the doc, once.
const failoverIntro = `How long the output stalls when an instance dies (kill -9) or is stopped
(SIGTERM) under live load, measured by ` + "`make bench-failover`" + ` (bench/failover):
stats-processor's closer lease holder and an instance that does not hold it,
at ` + "`kafka.session_timeout`" + ` 10 s (the default) and 6 s (the broker's minimum),
beside Kafka Streams with one of its instances killed. The windows are 1 s
long, so that the next window closed measures the outage rather than the
window's length; ` + "`watermark.idle_timeout`" + ` is a minute, longer than any
outage. Recovery is the arrival of the first window ending after the fault
(its last record) − max(fault time, window end). Goals (issue #26): a
graceful stop hands over in ≤ 1 s; a kill recovers in ≤ the session
timeout + 1 s. Each run appends its table below.
`

func secs(d time.Duration) string { return fmt.Sprintf("%.2f", d.Seconds()) }

// line is one run's raw line.
func (r result) line() string {
	f := r.f
	var b strings.Builder
	fmt.Fprintf(&b, "%s | session %s | %s: %s, at %s", r.system, r.session, r.fault, r.victim, f.t.UTC().Format("15:04:05.000"))
	fmt.Fprintf(&b, " (output %s s behind)", secs(r.behindAtFault))
	if r.exit > 0 {
		fmt.Fprintf(&b, ", exited after %s s", secs(r.exit))
	}
	if r.leaseMoved > 0 {
		fmt.Fprintf(&b, ", lease moved after %s s", secs(r.leaseMoved))
	}
	if !f.next.IsZero() {
		fmt.Fprintf(&b, " | next window ends %s, arrived %s: recovery %s s, fault → next window %s s",
			f.next.UTC().Format("15:04:05.000"), f.nextAt.UTC().Format("15:04:05.000"), secs(f.recovery), secs(f.toNext))
		fmt.Fprintf(&b, " | max emit delay %s s (window ending %s) | before the fault %s s",
			secs(f.maxDelay), f.maxEnd.UTC().Format("15:04:05"), secs(f.before))
	}
	fmt.Fprintf(&b, " | %.0f events/s | %s", r.held, r.check)
	return b.String()
}

// render is the run's table, how it was measured, and the raw lines.
func render(o options, results []result, commit string) string {
	var b strings.Builder
	load, _ := os.ReadFile("/proc/loadavg")
	fmt.Fprintf(&b, "### %s UTC, commit %s\n\n`%s`: %.0f events/s over %d partitions, window %s, %s of load before the fault (and up to %s more until a window that ended in the last 2 s is out) and %s after it (longer for Kafka Streams at 45 s), %d CPUs, load average %s.\n\n",
		time.Now().UTC().Format("2006-01-02 15:04"), commit, o.command, o.rate, o.partitions, o.window, o.warmup, currentWithin, o.after,
		runtime.NumCPU(), strings.Join(strings.Fields(string(load))[:3], " "))
	for _, bl := range o.builds {
		fmt.Fprintf(&b, "- build %s: `%s`\n", bl.label, bl.bin)
	}
	b.WriteString("\n| system | session timeout | fault | recovery s | fault → next window s | max emit delay s (windows ending in the " + o.after.String() + " after) | emit delay before s | SIGTERM exit s | lease moved s | counts |\n")
	b.WriteString("|---|---|---|---:|---:|---:|---:|---:|---:|---|\n")
	for _, r := range results {
		dash := func(d time.Duration) string {
			if d <= 0 {
				return "–"
			}
			return secs(d)
		}
		rec, next, maxd, before := "–", "–", "–", "–"
		if !r.f.next.IsZero() {
			rec, next, maxd, before = secs(r.f.recovery), secs(r.f.toNext), secs(r.f.maxDelay), secs(r.f.before)
		}
		fmt.Fprintf(&b, "| %s | %s | %s: %s | %s | %s | %s | %s | %s | %s | %s |\n",
			r.system, r.session, r.fault, r.victim, rec, next, maxd, before, dash(r.exit), dash(r.leaseMoved), r.check)
	}
	b.WriteString("\nRaw lines:\n\n```\n")
	for _, r := range results {
		b.WriteString(r.line() + "\n")
	}
	b.WriteString("```\n")
	return b.String()
}

// appendSection adds text at the end of the section "## title" of the
// markdown file path (before the next "## " heading), creating the section
// with intro at the file's end when it has none. The rest of the file is
// left as it is.
func appendSection(path, title, intro, text string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("add the results to %s: %w", path, err)
	}
	doc := strings.TrimRight(string(b), "\n") + "\n"
	heading := "## " + title + "\n"
	i := strings.Index(doc, "\n"+heading)
	if i < 0 {
		doc += "\n" + heading + "\n" + intro + "\n" + text
	} else {
		end := len(doc)
		if j := strings.Index(doc[i+1+len(heading):], "\n## "); j >= 0 {
			end = i + 1 + len(heading) + j + 1
		}
		doc = strings.TrimRight(doc[:end], "\n") + "\n\n" + text + "\n" + doc[end:]
	}
	return os.WriteFile(path, []byte(strings.TrimRight(doc, "\n")+"\n"), 0o644)
}
