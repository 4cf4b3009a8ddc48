package web

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/vehicle-stats/vehicle-stats/internal/httpserver"
	"github.com/vehicle-stats/vehicle-stats/pkg/model"
	"github.com/vehicle-stats/vehicle-stats/services/stats-processor/internal/api"
)

// Defaults of Options.
const (
	DefaultInterval     = 500 * time.Millisecond
	DefaultHeartbeat    = 15 * time.Second
	DefaultMaxClients   = 100
	DefaultMaxPerClient = 10
	DefaultMaxLifetime  = 10 * time.Minute
	DefaultWindows      = api.DefaultLimit
	DefaultRateWindow   = 5 * time.Second
)

// retryMs is the reconnection delay the stream asks of the browser: after
// a lost connection, and after the stream's lifetime ended it.
const retryMs = 2000

// ErrTooManyClients is returned by a subscription beyond Options.MaxClients.
var ErrTooManyClients = errors.New("too many live clients")

// ErrTooManyFromClient is returned by a subscription beyond
// Options.MaxPerClient streams from one client address.
var ErrTooManyFromClient = errors.New("too many live streams from one client")

// ErrStopped is returned by a subscription after Stream.Stop.
var ErrStopped = errors.New("live stream stopped")

// StatsReader builds the GET /stats answer; *api.Handler implements it. It
// must be safe for concurrent use and return promptly when ctx is done.
type StatsReader interface {
	Read(ctx context.Context, q api.Query) (api.Stats, error)
}

// Options tune a Stream; a zero field takes its default.
type Options struct {
	// Interval is how often the statistics are read; a client gets at most
	// one event per interval.
	Interval time.Duration
	// Heartbeat is how often an idle stream sends a ": ping" comment, so
	// proxies and browsers keep the connection open.
	Heartbeat time.Duration
	// MaxClients bounds the open streams; one more gets 503.
	MaxClients int
	// MaxPerClient bounds the open streams of one client address (see
	// Config.MaxStreamsPerClient); one more gets 429.
	MaxPerClient int
	// MaxLifetime is how long a stream stays open, less up to a tenth at
	// random; then it ends and the browser reconnects.
	MaxLifetime time.Duration
	// Refused, when set, is called with ErrTooManyClients or
	// ErrTooManyFromClient for each stream refused (for a metric).
	Refused func(error)
	// Windows is how many of the newest windows each event carries, as
	// /stats?limit=Windows would.
	Windows int
	// RateWindow is the span events per second are averaged over.
	RateWindow time.Duration
	// Now is the wall clock; time.Now when nil.
	Now func() time.Time
	// Log receives read failures and their recovery; slog.Default when nil.
	Log *slog.Logger
}

func (o *Options) setDefaults() {
	if o.Interval <= 0 {
		o.Interval = DefaultInterval
	}
	if o.Heartbeat <= 0 {
		o.Heartbeat = DefaultHeartbeat
	}
	if o.MaxClients <= 0 {
		o.MaxClients = DefaultMaxClients
	}
	if o.MaxPerClient <= 0 {
		o.MaxPerClient = DefaultMaxPerClient
	}
	if o.MaxLifetime <= 0 {
		o.MaxLifetime = DefaultMaxLifetime
	}
	if o.Refused == nil {
		o.Refused = func(error) {}
	}
	if o.Windows <= 0 {
		o.Windows = DefaultWindows
	}
	if o.RateWindow <= 0 {
		o.RateWindow = DefaultRateWindow
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
}

// Stream reads the statistics in one goroutine and fans every change out to
// the connected Server-Sent Events clients. Its methods are safe for
// concurrent use.
type Stream struct {
	stats  StatsReader
	totals func() Totals
	opts   Options

	mu        sync.Mutex
	clients   map[*client]struct{}
	perClient map[string]int // open streams by client address (clientKey)
	latest    []byte         // the last event sent, as an SSE frame; nil before the first
	stopped   bool

	cancel context.CancelFunc // set by Start, under mu
	done   chan struct{}      // closed when the poll loop ends

	// Owned by the poll goroutine.
	rate    rate
	lastKey []byte
	lastErr string
}

// client is one open stream. Only broadcast sends on events and only Stop
// closes it, both under Stream.mu.
type client struct {
	events chan []byte // capacity 1: holds the newest frame not yet written
	addr   string      // its clientKey
}

// NewStream returns a stream over stats and totals (this instance's
// counters; see MetricsTotals). Start begins polling.
func NewStream(stats StatsReader, totals func() Totals, opts Options) *Stream {
	opts.setDefaults()
	return &Stream{
		stats:     stats,
		totals:    totals,
		opts:      opts,
		clients:   map[*client]struct{}{},
		perClient: map[string]int{},
		rate:      rate{span: opts.RateWindow},
		done:      make(chan struct{}),
	}
}

// Start runs the poll loop on its own context until Stop. It starts the loop
// once; after Stop it does nothing.
func (s *Stream) Start(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cancel != nil || s.stopped {
		return nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	go s.run(ctx)
	return nil
}

// Stop ends the poll loop and every open stream, and waits for the loop
// until ctx is done. Later subscriptions get ErrStopped.
func (s *Stream) Stop(ctx context.Context) error {
	s.mu.Lock()
	if !s.stopped {
		s.stopped = true
		for c := range s.clients {
			close(c.events)
			delete(s.clients, c)
		}
		clear(s.perClient)
	}
	cancel := s.cancel
	s.mu.Unlock()
	if cancel == nil {
		return nil // never started
	}
	cancel()
	select {
	case <-s.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("live stream poller did not stop: %w", ctx.Err())
	}
}

// Clients is the number of open streams.
func (s *Stream) Clients() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.clients)
}

func (s *Stream) run(ctx context.Context) {
	defer close(s.done)
	t := time.NewTicker(s.opts.Interval)
	defer t.Stop()
	for {
		s.poll(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// poll reads one snapshot and broadcasts it if it differs from the last one
// in anything but the clock.
func (s *Stream) poll(ctx context.Context) {
	now := s.opts.Now()
	totals := s.totals()
	eps := round1(s.rate.add(now, totals.Events))
	if !s.watched() {
		// Nobody to tell: skip the Redis read. The next client gets a fresh
		// snapshot at the next poll.
		s.lastKey, s.lastErr = nil, ""
		return
	}
	rctx, cancel := context.WithTimeout(ctx, max(s.opts.Interval*4, 2*time.Second))
	st, err := s.stats.Read(rctx, api.Query{Limit: s.opts.Windows, From: model.MinEventTime, To: model.MaxEventTime + 1})
	cancel()
	if ctx.Err() != nil {
		return
	}
	if err != nil {
		msg := "reading state from Redis failed: " + err.Error()
		if msg != s.lastErr {
			s.opts.Log.Warn("live page: cannot read statistics", "error", err)
			s.lastErr, s.lastKey = msg, nil
			b, _ := json.Marshal(struct {
				Error string        `json:"error"`
				Now   api.Timestamp `json:"now"`
			}{msg, api.Timestamp(now.UnixMilli())})
			s.broadcast(frame("unavailable", b))
		}
		return
	}
	if s.lastErr != "" {
		s.opts.Log.Info("live page: statistics readable again")
		s.lastErr = ""
	}
	snap := Snapshot{
		Stats:           st,
		EventsPerSecond: eps,
		Late:            int64(totals.Late),
		DeadLetters:     int64(totals.DeadLetters),
	}
	if totals.HasEmitDelay {
		d := math.Round(totals.EmitDelay.Seconds()*1000) / 1000
		snap.EmitDelaySeconds = &d
	}
	// The clock fields (Now, WatermarkLagSeconds) change every poll; a
	// viewer waits for the rest, and the page advances the lag on its own.
	key, err := json.Marshal(snap)
	if err != nil {
		s.opts.Log.Error("live page: encode snapshot", "error", err)
		return
	}
	if bytes.Equal(key, s.lastKey) {
		return
	}
	s.lastKey = key
	snap.Now = api.Timestamp(now.UnixMilli())
	if st.Watermark != nil {
		lag := float64(now.UnixMilli()-int64(*st.Watermark)) / 1000
		snap.WatermarkLagSeconds = &lag
	}
	b, err := json.Marshal(snap)
	if err != nil {
		s.opts.Log.Error("live page: encode snapshot", "error", err)
		return
	}
	s.broadcast(frame("stats", b))
}

// watched reports whether a client is connected, and forgets the last frame
// when none is, so that no client is ever primed with a stale one.
func (s *Stream) watched() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.clients) == 0 {
		s.latest = nil
		return false
	}
	return true
}

func frame(event string, data []byte) []byte {
	b := make([]byte, 0, len(event)+len(data)+16)
	b = append(b, "event: "...)
	b = append(b, event...)
	b = append(b, "\ndata: "...)
	b = append(b, data...)
	return append(b, "\n\n"...)
}

// broadcast hands msg to every client, replacing a frame a slow client has
// not written yet: it skips to the newest state instead of queueing.
func (s *Stream) broadcast(msg []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.latest = msg
	for c := range s.clients {
		select {
		case c.events <- msg:
			continue
		default:
		}
		select {
		case <-c.events:
		default:
		}
		select {
		case c.events <- msg:
		default:
		}
	}
}

// subscribe adds a client from addr (a clientKey), primed with the latest
// frame. The per-client limit is checked first, so a host at its own limit
// is told so even when every slot is taken.
func (s *Stream) subscribe(addr string) (*client, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return nil, ErrStopped
	}
	if s.perClient[addr] >= s.opts.MaxPerClient {
		return nil, ErrTooManyFromClient
	}
	if len(s.clients) >= s.opts.MaxClients {
		return nil, ErrTooManyClients
	}
	c := &client{events: make(chan []byte, 1), addr: addr}
	if s.latest != nil {
		c.events <- s.latest
	}
	s.clients[c] = struct{}{}
	s.perClient[addr]++
	return c, nil
}

func (s *Stream) unsubscribe(c *client) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.clients[c]; !ok {
		return // Stop removed it already
	}
	delete(s.clients, c)
	if s.perClient[c.addr]--; s.perClient[c.addr] <= 0 {
		delete(s.perClient, c.addr)
	}
}

// clientKey is the address a client's streams are counted by: the TCP
// peer's IP (forwarding headers are not trusted: any client can write
// them), an IPv6 address by its /64, which one host usually holds whole.
func clientKey(remoteAddr string) string {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		host = remoteAddr
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	if ip = ip.Unmap(); ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.String()
	}
	return ip.String()
}

// refuse answers a stream that subscribe refused.
func (s *Stream) refuse(c *gin.Context, err error) {
	status, retry, msg := http.StatusServiceUnavailable, 5, "the live stream is shutting down"
	switch {
	case errors.Is(err, ErrTooManyFromClient):
		status, retry = http.StatusTooManyRequests, 30
		msg = fmt.Sprintf("too many live streams from your address (at most %d); close one, or try again later", s.opts.MaxPerClient)
	case errors.Is(err, ErrTooManyClients):
		msg = fmt.Sprintf("too many live clients (at most %d); try again later", s.opts.MaxClients)
	}
	if !errors.Is(err, ErrStopped) {
		s.opts.Refused(err)
	}
	c.Header("Retry-After", strconv.Itoa(retry))
	c.JSON(status, gin.H{"error": msg})
}

func (s *Stream) serve(c *gin.Context) {
	cl, err := s.subscribe(clientKey(c.Request.RemoteAddr))
	if err != nil {
		s.refuse(c, err)
		return
	}
	defer s.unsubscribe(cl)
	// The stream outlives the server's read and write timeouts, which would
	// otherwise cut it (write) or cancel its context (read).
	if err := httpserver.Unbounded(c.Writer); err != nil {
		s.opts.Log.Warn("live stream: cannot lift the connection deadlines; the stream ends at http.write_timeout", "error", err)
	}
	h := c.Writer.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	c.Status(http.StatusOK)
	// The retry hint makes a browser reconnect after 2 s instead of 3 to 5,
	// also when the stream's lifetime ends it.
	if _, err := c.Writer.WriteString("retry: " + strconv.Itoa(retryMs) + "\n\n"); err != nil {
		return
	}
	c.Writer.Flush()
	ping := time.NewTicker(s.opts.Heartbeat)
	defer ping.Stop()
	lifetime := time.NewTimer(s.opts.MaxLifetime - rand.N(s.opts.MaxLifetime/10+1))
	defer lifetime.Stop()
	ctx := c.Request.Context()
	for {
		var msg []byte
		select {
		case <-ctx.Done():
			return
		case <-lifetime.C:
			return // the browser reconnects, taking a slot like any client
		case m, ok := <-cl.events:
			if !ok {
				return
			}
			msg = m
		case <-ping.C:
			msg = []byte(": ping\n\n")
		}
		if _, err := c.Writer.Write(msg); err != nil {
			return
		}
		c.Writer.Flush()
	}
}
