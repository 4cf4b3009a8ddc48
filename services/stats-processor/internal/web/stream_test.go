package web

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/vehicle-stats/vehicle-stats/internal/httpserver"
	"github.com/vehicle-stats/vehicle-stats/services/stats-processor/internal/api"
	"github.com/vehicle-stats/vehicle-stats/services/stats-processor/internal/metrics"
)

// fakeStats is a StatsReader whose answer the test sets.
type fakeStats struct {
	mu    sync.Mutex
	st    api.Stats
	err   error
	reads int
	query api.Query
}

func (f *fakeStats) Read(_ context.Context, q api.Query) (api.Stats, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reads++
	f.query = q
	return f.st, f.err
}

func (f *fakeStats) set(st api.Stats, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.st, f.err = st, err
}

func stats(watermark int64, counts ...int64) api.Stats {
	wm := api.Timestamp(watermark)
	st := api.Stats{WindowSize: "20s", Watermark: &wm, Windows: []api.Window{}}
	start := watermark - watermark%20_000
	for i, n := range counts {
		s := start - int64(i)*20_000
		st.Windows = append(st.Windows, api.Window{Start: api.Timestamp(s), End: api.Timestamp(s + 20_000),
			Closed: i > 0, Counts: map[string]int64{"CAR": n}, Total: n})
	}
	return st
}

type harness struct {
	stream *Stream
	stats  *fakeStats
	srv    *httptest.Server
}

func newHarness(t *testing.T, opts Options) *harness {
	t.Helper()
	gin.SetMode(gin.ReleaseMode)
	h := &harness{stats: &fakeStats{}}
	h.stats.set(stats(1_763_768_719_999, 12, 45), nil)
	if opts.Interval == 0 {
		opts.Interval = 10 * time.Millisecond
	}
	opts.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	h.stream = NewStream(h.stats, func() Totals { return Totals{Events: 100, Late: 2, DeadLetters: 3} }, opts)
	e := gin.New()
	h.stream.Register(e)
	h.srv = httptest.NewServer(e)
	if err := h.stream.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := h.stream.Stop(ctx); err != nil {
			t.Error(err)
		}
		h.srv.Close()
	})
	return h
}

// received is the part of a stats event the tests look at.
type received struct {
	Watermark time.Time `json:"watermark"`
	Windows   []struct {
		Start  time.Time        `json:"start"`
		Closed bool             `json:"closed"`
		Counts map[string]int64 `json:"counts"`
		Total  int64            `json:"total"`
	} `json:"windows"`
	WatermarkLagSeconds *float64  `json:"watermarkLagSeconds"`
	Now                 time.Time `json:"now"`
}

// event is one SSE event, comment or retry hint as received.
type event struct {
	name, data, comment, retry string
}

// conn is an open stream with its events arriving on a channel.
type conn struct {
	resp   *http.Response
	events chan event
	cancel context.CancelFunc
}

func (h *harness) connect(t *testing.T) *conn { return h.connectFrom(t, nil) }

// connectFrom opens a stream from the loopback address ip (any of 127/8;
// nil: the system's choice), as a client on another host would.
func (h *harness) connectFrom(t *testing.T, ip net.IP) *conn {
	t.Helper()
	client := http.DefaultClient
	if ip != nil {
		d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: ip}}
		client = &http.Client{Transport: &http.Transport{DialContext: d.DialContext}}
	}
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, h.srv.URL+"/stats/stream", nil)
	resp, err := client.Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	c := &conn{resp: resp, events: make(chan event, 100), cancel: cancel}
	t.Cleanup(c.close)
	if resp.StatusCode != http.StatusOK {
		return c
	}
	go func() {
		defer close(c.events)
		sc := bufio.NewScanner(resp.Body)
		var ev event
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if ev != (event{}) {
					c.events <- ev
				}
				ev = event{}
			case strings.HasPrefix(line, ":"):
				ev.comment = strings.TrimSpace(line[1:])
			case strings.HasPrefix(line, "event: "):
				ev.name = line[len("event: "):]
			case strings.HasPrefix(line, "data: "):
				ev.data += line[len("data: "):]
			case strings.HasPrefix(line, "retry: "):
				ev.retry = line[len("retry: "):]
			}
		}
	}()
	return c
}

func (c *conn) close() {
	c.cancel()
	c.resp.Body.Close()
}

// next returns the next event named name, skipping others, or fails after d.
func (c *conn) next(t *testing.T, name string, d time.Duration) event {
	t.Helper()
	timeout := time.After(d)
	for {
		select {
		case ev, ok := <-c.events:
			if !ok {
				t.Fatalf("stream ended while waiting for %q", name)
			}
			if ev.name == name || (name == "ping" && ev.comment == "ping") {
				return ev
			}
		case <-timeout:
			t.Fatalf("no %q event within %s", name, d)
		}
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestStreamSendsTheStatsAnswerAndLiveFigures(t *testing.T) {
	h := newHarness(t, Options{})
	c := h.connect(t)
	if ct := c.resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("Content-Type %q", ct)
	}
	ev := c.next(t, "stats", 2*time.Second)
	var got map[string]json.RawMessage
	if err := json.Unmarshal([]byte(ev.data), &got); err != nil {
		t.Fatalf("data %s: %v", ev.data, err)
	}
	want, _ := json.Marshal(stats(1_763_768_719_999, 12, 45))
	var wantFields map[string]json.RawMessage
	_ = json.Unmarshal(want, &wantFields)
	for k, v := range wantFields {
		if string(got[k]) != string(v) {
			t.Errorf("%s = %s, want %s (as /stats)", k, got[k], v)
		}
	}
	for _, k := range []string{"eventsPerSecond", "late", "deadLetters", "watermarkLagSeconds", "now"} {
		if _, ok := got[k]; !ok {
			t.Errorf("event lacks %q: %s", k, ev.data)
		}
	}
	if string(got["late"]) != "2" || string(got["deadLetters"]) != "3" {
		t.Errorf("late %s deadLetters %s, want 2 and 3", got["late"], got["deadLetters"])
	}
	var snap received
	if err := json.Unmarshal([]byte(ev.data), &snap); err != nil {
		t.Fatal(err)
	}
	if lag := snap.Now.Sub(snap.Watermark).Seconds(); snap.WatermarkLagSeconds == nil || *snap.WatermarkLagSeconds != lag {
		t.Errorf("watermarkLagSeconds %v, want now - watermark = %v", snap.WatermarkLagSeconds, lag)
	}
	h.stats.mu.Lock()
	q := h.stats.query
	h.stats.mu.Unlock()
	if q.Limit != DefaultWindows || q.Type != 0 {
		t.Errorf("query %+v, want the /stats default", q)
	}
}

func TestStreamSendsOnlyChanges(t *testing.T) {
	h := newHarness(t, Options{Heartbeat: 40 * time.Millisecond})
	c := h.connect(t)
	c.next(t, "stats", 2*time.Second)
	// Unchanged: many polls, no event, but heartbeats.
	reads := func() int { h.stats.mu.Lock(); defer h.stats.mu.Unlock(); return h.stats.reads }
	r0 := reads()
	waitFor(t, "ten more polls", func() bool { return reads() >= r0+10 })
	c.next(t, "ping", time.Second)
	select {
	case ev := <-c.events:
		if ev.name == "stats" {
			t.Fatalf("an unchanged snapshot was sent again: %s", ev.data)
		}
	default:
	}
	// A count changes: one event with it.
	h.stats.set(stats(1_763_768_719_999, 13, 45), nil)
	ev := c.next(t, "stats", 2*time.Second)
	var snap received
	_ = json.Unmarshal([]byte(ev.data), &snap)
	if snap.Windows[0].Total != 13 {
		t.Errorf("total %d, want 13", snap.Windows[0].Total)
	}
	// A window closes: another.
	st := stats(1_763_768_719_999, 13, 45)
	st.Windows[0].Closed = true
	h.stats.set(st, nil)
	ev = c.next(t, "stats", 2*time.Second)
	_ = json.Unmarshal([]byte(ev.data), &snap)
	if !snap.Windows[0].Closed {
		t.Errorf("window not closed in %s", ev.data)
	}
}

func TestStreamReadsOnlyWhileWatched(t *testing.T) {
	h := newHarness(t, Options{})
	reads := func() int { h.stats.mu.Lock(); defer h.stats.mu.Unlock(); return h.stats.reads }
	time.Sleep(100 * time.Millisecond)
	if n := reads(); n != 0 {
		t.Errorf("%d reads with no client", n)
	}
	c := h.connect(t)
	c.next(t, "stats", 2*time.Second)
	c.close()
	waitFor(t, "the client to leave", func() bool { return h.stream.Clients() == 0 })
	time.Sleep(30 * time.Millisecond) // a poll that may have been under way
	n := reads()
	time.Sleep(100 * time.Millisecond)
	if m := reads(); m != n {
		t.Errorf("%d reads after the last client left", m-n)
	}
	// A client that comes back gets the state again, not silence.
	h.connect(t).next(t, "stats", 2*time.Second)
}

func TestStreamReportsUnavailableState(t *testing.T) {
	h := newHarness(t, Options{})
	c := h.connect(t)
	c.next(t, "stats", 2*time.Second)
	h.stats.set(api.Stats{}, errors.New("dial tcp: connection refused"))
	ev := c.next(t, "unavailable", 2*time.Second)
	if !strings.Contains(ev.data, "connection refused") {
		t.Errorf("unavailable event %s does not say why", ev.data)
	}
	// Recovery sends the state again even though it equals the one before.
	h.stats.set(stats(1_763_768_719_999, 12, 45), nil)
	c.next(t, "stats", 2*time.Second)
}

func TestStreamClientLimitAndDisconnect(t *testing.T) {
	h := newHarness(t, Options{MaxClients: 2})
	a, b := h.connect(t), h.connect(t)
	a.next(t, "stats", 2*time.Second)
	b.next(t, "stats", 2*time.Second)
	if n := h.stream.Clients(); n != 2 {
		t.Fatalf("%d clients, want 2", n)
	}
	third := h.connect(t)
	if third.resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("client 3 of 2 got %d, want 503", third.resp.StatusCode)
	}
	var body struct{ Error string }
	if err := json.NewDecoder(third.resp.Body).Decode(&body); err != nil || !strings.Contains(body.Error, "at most 2") {
		t.Errorf("503 body %+v (%v), want a JSON error naming the limit", body, err)
	}
	if third.resp.Header.Get("Retry-After") == "" {
		t.Error("503 without Retry-After")
	}
	a.close()
	waitFor(t, "the disconnected client to be released", func() bool { return h.stream.Clients() == 1 })
	d := h.connect(t)
	if d.resp.StatusCode != http.StatusOK {
		t.Fatalf("after a disconnect a new client got %d", d.resp.StatusCode)
	}
	d.next(t, "stats", 2*time.Second)
}

func TestStreamStopEndsStreamsAndPoller(t *testing.T) {
	h := newHarness(t, Options{})
	c := h.connect(t)
	c.next(t, "stats", 2*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := h.stream.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case <-h.stream.done:
	default:
		t.Fatal("poller still running after Stop")
	}
	for range c.events { // drains until the server ends the response
	}
	if n := h.stream.Clients(); n != 0 {
		t.Errorf("%d clients after Stop", n)
	}
	if r := h.connect(t); r.resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("a client after Stop got %d, want 503", r.resp.StatusCode)
	}
	// Stop twice is harmless (fx may call it after a failed start).
	if err := h.stream.Stop(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestSlowClientSkipsToNewest(t *testing.T) {
	s := NewStream(&fakeStats{}, func() Totals { return Totals{} }, Options{})
	c, err := s.subscribe("192.0.2.1")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{"a", "b", "c"} {
		s.broadcast([]byte(m))
	}
	if got := string(<-c.events); got != "c" {
		t.Errorf("slow client got %q, want the newest, c", got)
	}
	late, _ := s.subscribe("192.0.2.1")
	if got := string(<-late.events); got != "c" {
		t.Errorf("a new client starts with %q, want the latest, c", got)
	}
}

func TestRate(t *testing.T) {
	t0 := time.Unix(1_763_768_700, 0)
	r := rate{span: 5 * time.Second}
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	if got := r.add(at(0), 0); got != 0 {
		t.Errorf("first sample: %v", got)
	}
	if got := r.add(at(500), 10); got != 0 {
		t.Errorf("under a second: %v, want 0", got)
	}
	for ms := 1000; ms <= 10_000; ms += 500 {
		r.add(at(ms), float64(ms/100)) // 10 events per second
	}
	if got := r.add(at(10_500), 105); got != 10 {
		t.Errorf("steady 10/s: %v", got)
	}
	if n := len(r.samples); n > 12 {
		t.Errorf("%d samples kept for a 5 s span at 2/s", n)
	}
	// Quiet for the whole span: 0.
	for ms := 11_000; ms <= 16_000; ms += 500 {
		r.add(at(ms), 105)
	}
	if got := r.add(at(16_500), 105); got != 0 {
		t.Errorf("quiet: %v, want 0", got)
	}
	// A counter reset (restart) starts over instead of going negative.
	if got := r.add(at(17_000), 3); got != 0 {
		t.Errorf("after a reset: %v, want 0", got)
	}
	if round1(9.96) != 10 || round1(0.04) != 0 || round1(2.25) != 2.3 {
		t.Errorf("round1: %v %v %v", round1(9.96), round1(0.04), round1(2.25))
	}
}

func TestMetricsTotals(t *testing.T) {
	m, err := metrics.New(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	m.Events.WithLabelValues("CAR").Add(40)
	m.Events.WithLabelValues("TRUCK").Add(5)
	m.Late.Add(2)
	m.AddDeadLetters(metrics.Malformed, 3)
	if got := MetricsTotals(m)(); got != (Totals{Events: 45, Late: 2, DeadLetters: 3}) {
		t.Errorf("totals %+v", got)
	}
	m.ObserveEmitDelay(12 * time.Millisecond)
	if got := MetricsTotals(m)(); !got.HasEmitDelay || got.EmitDelay != 12*time.Millisecond {
		t.Errorf("totals after a window closed %+v", got)
	}
}

// TestStreamOutlivesServerTimeouts serves the stream through the shared
// HTTP server with read and write timeouts of 300 ms: heartbeats must keep
// arriving on one connection for more than five times that.
func TestStreamOutlivesServerTimeouts(t *testing.T) {
	h := newHarness(t, Options{Heartbeat: 100 * time.Millisecond})
	const timeout = 300 * time.Millisecond
	s, err := httpserver.Listen(httpserver.Config{Addr: "127.0.0.1:0", ReadHeaderTimeout: timeout, ReadTimeout: timeout, WriteTimeout: timeout},
		h.srv.Config.Handler, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve()
	h.srv.URL = "http://" + s.Addr() // connect through the timed server
	c := h.connect(t)
	defer func() {
		c.close() // before Shutdown, which waits for open connections
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = s.Shutdown(ctx)
	}()
	c.next(t, "stats", 2*time.Second)
	start := time.Now()
	pings := 0
	for time.Since(start) < 5*timeout {
		c.next(t, "ping", 2*time.Second) // fails when the stream ends
		pings++
	}
	t.Logf("%d heartbeats over %s on one connection", pings, time.Since(start).Round(time.Millisecond))
}
