package web

import (
	"context"
	"fmt"
	"reflect"
	"sort"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestE2ELivePage: the real processor with a page open before any data;
// three minutes of history and then a live feed arrive; the page follows
// without a reload, shows the same windows as /stats, the expected counts,
// late and dead-lettered numbers, and screenshots are saved under
// out/screenshots/.
func TestE2ELivePage(t *testing.T) {
	b := newBrowser(t)
	p := startPipe(t, 2)
	base := "http://" + p.addr

	// The page, before any vehicle.
	if err := chromedp.Do(b.ctx, chromedp.EmulateViewport(1280, 800), chromedp.Navigate(base+"/")); err != nil {
		t.Fatal(err)
	}
	waitJS(t, b, "the first live snapshot", `Number(document.body.dataset.updates || 0) >= 1`, 20*time.Second)
	if state := eval[string](t, b, `document.querySelector('#status').dataset.state`); state != "live" {
		t.Errorf("status %q with the stream connected, want live", state)
	}
	// Marks this document: a reload would lose it.
	_ = eval[bool](t, b, `window.__sameDocument = true`)

	// History: the last three minutes, then a live feed stamped with the clock.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	pr := newProducer(p)
	defer pr.w.Close()
	now := time.Now().UnixMilli()
	if err := pr.send(ctx, history(1, 2, now-185_000, now-4_000)); err != nil {
		t.Fatal(err)
	}
	liveCtx, stopLive := context.WithCancel(ctx)
	liveDone := make(chan error, 1)
	go func() { liveDone <- pr.live(liveCtx, 2) }()
	defer stopLive()

	waitJS(t, b, "ten windows, an open one and a rate", `
		document.querySelectorAll('#windows tbody tr[data-start]').length >= 10 &&
		document.querySelector('#windows tr.open') !== null &&
		Number(document.querySelector('#eps').dataset.value) > 0`, 60*time.Second)
	time.Sleep(6 * time.Second) // a full rate window of the live feed, for the pictures
	screenshot(t, b, "live-page-1280x800.png", 1280, 800, false)
	screenshot(t, b, "live-page-full.png", 1280, 800, true)
	if err := chromedp.Do(b.ctx, chromedp.Click("details.info summary")); err != nil {
		t.Fatal(err)
	}
	screenshot(t, b, "live-page-watermark-help.png", 1280, 800, false)
	if !eval[bool](t, b, `document.querySelector('details.info').open`) {
		t.Error("the watermark explanation did not open with one click")
	}
	if err := chromedp.Do(b.ctx, chromedp.Click("details.info summary")); err != nil {
		t.Fatal(err)
	}
	screenshot(t, b, "live-page-phone.png", 390, 844, true)
	// At phone width nothing may stick out sideways but the scrollable table.
	if w := eval[float64](t, b, `document.documentElement.scrollWidth / window.innerWidth`); w > 1.01 {
		t.Errorf("at phone width the page is %.2f times wider than the screen", w)
	}
	setDark(t, b, true)
	screenshot(t, b, "live-page-dark.png", 1280, 800, true)
	setDark(t, b, false)
	if err := chromedp.Do(b.ctx, chromedp.EmulateViewport(1280, 800)); err != nil {
		t.Fatal(err)
	}

	stopLive()
	if err := <-liveDone; err != nil {
		t.Fatalf("live feed: %v", err)
	}
	recs := pr.records()
	want, late, bad := windowCounts(recs, p.window, p.ooo)
	t.Logf("sent %d records: %d windows, %d late, %d bad", len(recs), len(want), late, bad)

	// Once the feed stops, the page and /stats settle on the same windows,
	// and those are the expected counts.
	var shown []shownWindow
	var stats []statsWindow
	deadline := time.Now().Add(30 * time.Second)
	for {
		stats = readStats(t, p.addr)
		shown = eval[[]shownWindow](t, b, pageWindows)
		if sameWindows(shown, stats) && countsMatch(stats, want) == "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("page and /stats never agreed with the expected counts:\npage   %v\n/stats %v\n%s", shown, stats, countsMatch(stats, want))
		}
		time.Sleep(300 * time.Millisecond)
	}
	for _, w := range shown {
		if w.Shown != fmt.Sprint(w.Total) {
			t.Errorf("window %s shows total %q, its data says %d", w.Start, w.Shown, w.Total)
		}
	}
	if len(stats) != DefaultWindows {
		t.Errorf("/stats lists %d windows, want the newest %d", len(stats), DefaultWindows)
	}
	if got := eval[float64](t, b, `Number(document.querySelector('#late').dataset.value)`); int(got) != late {
		t.Errorf("page shows %v late, want %d", got, late)
	}
	if got := eval[float64](t, b, `Number(document.querySelector('#dead').dataset.value)`); int(got) != bad {
		t.Errorf("page shows %v dead-lettered, want %d", got, bad)
	}
	if !eval[bool](t, b, `window.__sameDocument === true`) {
		t.Error("the page reloaded; it must update in place")
	}
	if n := eval[float64](t, b, `Number(document.body.dataset.updates)`); n < 5 {
		t.Errorf("only %v live updates", n)
	}
	if refused := eval[[]string](t, b, `window.__refused`); len(refused) > 0 {
		t.Errorf("the page was refused loads: %v", refused)
	}
	if errs := b.errors(); len(errs) > 0 {
		t.Errorf("the page logged errors: %v", errs)
	}

	// Stopping the service with the page connected is prompt.
	p.stop(t)
	waitJS(t, b, "that the stream is gone", `document.querySelector('#status').dataset.state !== 'live'`, 10*time.Second)
}

func sameWindows(shown []shownWindow, stats []statsWindow) bool {
	if len(shown) != len(stats) || len(stats) == 0 {
		return false
	}
	for i := range stats {
		if !reflect.DeepEqual(shown[i].statsWindow, stats[i]) {
			return false
		}
	}
	return true
}

// countsMatch compares /stats with the expected counts: the newest windows
// of the expectation, in order, each with the same counts; "" when equal.
func countsMatch(stats []statsWindow, want map[int64]map[string]int64) string {
	starts := make([]int64, 0, len(want))
	for s := range want {
		starts = append(starts, s)
	}
	sort.Slice(starts, func(i, j int) bool { return starts[i] > starts[j] })
	if len(stats) > len(starts) {
		return fmt.Sprintf("/stats has %d windows, %d expected", len(stats), len(starts))
	}
	for i, w := range stats {
		start := time.UnixMilli(starts[i]).UTC().Format("2006-01-02T15:04:05.000Z")
		if w.Start != start || !reflect.DeepEqual(w.Counts, want[starts[i]]) {
			return fmt.Sprintf("window %d: /stats %v, want %s %v", i, w, start, want[starts[i]])
		}
	}
	return ""
}
