package app_test

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"go.uber.org/fx"

	"github.com/vehicle-stats/vehicle-stats/internal/httpserver"
	"github.com/vehicle-stats/vehicle-stats/internal/testenv"
	"github.com/vehicle-stats/vehicle-stats/services/stats-processor/internal/app"
)

// TestReadyzCostsNothing points the processor's own readiness checks at the
// real Kafka and Redis through counting proxies, then sends /readyz 200
// requests at once and 200 one after another. Each round of checks dials
// Kafka once and pings Redis once; rounds are at most one per
// httpserver.ReadyTTL, so 400 probes make a handful of each, not 400.
func TestReadyzCostsNothing(t *testing.T) {
	env := testenv.Get(t)
	kafka := countingProxy(t, env.Brokers[0], nil)
	redis := countingProxy(t, env.RedisAddr, []byte("\r\nping\r\n")) // as go-redis sends it
	cfg := app.DefaultConfig()
	cfg.Kafka.Topics.Brokers = []string{kafka.addr}
	cfg.Redis.Addr = redis.addr
	var e *gin.Engine
	a := app.New(cfg, "test", slog.New(slog.NewTextHandler(io.Discard, nil)), fx.Populate(&e))
	if err := a.Err(); err != nil {
		t.Fatal(err)
	}
	s, err := httpserver.Listen(httpserver.Config{Addr: "127.0.0.1:0"}, e, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve()
	t.Cleanup(func() { _ = s.Shutdown(t.Context()) })

	// The application is not started, so the pipeline's own checks fail;
	// Kafka and Redis must pass.
	probe := func() {
		resp, err := http.Get("http://" + s.Addr() + "/readyz")
		if err != nil {
			t.Error(err)
			return
		}
		defer resp.Body.Close()
		var body struct{ Failing map[string]string }
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
			t.Error(err)
		}
		for _, dep := range []string{"kafka", "redis"} {
			if msg, failing := body.Failing[dep]; failing {
				t.Errorf("/readyz: %s failing: %s", dep, msg)
			}
		}
	}
	start := time.Now()
	var wg sync.WaitGroup
	for range 200 {
		wg.Go(probe)
	}
	wg.Wait()
	for range 200 {
		probe()
	}
	elapsed := time.Since(start)
	// Rounds start at most once per ReadyTTL: the first, and one per TTL
	// that passed.
	rounds := 1 + int64(elapsed/httpserver.ReadyTTL)
	t.Logf("400 probes in %s: %d Kafka connections, %d Redis pings (%d Redis connections); at most %d rounds",
		elapsed.Round(time.Millisecond), kafka.conns.Load(), redis.matches.Load(), redis.conns.Load(), rounds)
	if n := kafka.conns.Load(); n < 1 || n > rounds {
		t.Errorf("%d Kafka connections, want 1 to %d", n, rounds)
	}
	if n := redis.matches.Load(); n < 1 || n > rounds {
		t.Errorf("%d Redis pings, want 1 to %d", n, rounds)
	}
}

// proxy forwards TCP connections to a real server, counting them and, if
// given a pattern, its occurrences in what clients send.
type proxy struct {
	addr    string
	conns   atomic.Int64
	matches atomic.Int64
}

func countingProxy(t *testing.T, target string, pattern []byte) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{addr: ln.Addr().String()}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		conns []net.Conn
	)
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns { // the clients' pools keep theirs open
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.conns.Add(1)
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Go(func() { p.forward(c, target, pattern) })
		}
	})
	return p
}

func (p *proxy) forward(c net.Conn, target string, pattern []byte) {
	defer c.Close()
	s, err := net.Dial("tcp", target)
	if err != nil {
		return
	}
	defer s.Close()
	go func() {
		_, _ = io.Copy(c, s)
		c.Close()
	}()
	buf := make([]byte, 32<<10)
	var tail []byte // the end of the previous read, for a pattern cut in two
	for {
		n, err := c.Read(buf)
		if n > 0 {
			if len(pattern) > 0 {
				seen := append(tail, bytes.ToLower(buf[:n])...)
				p.matches.Add(int64(bytes.Count(seen, pattern)))
				tail = append([]byte(nil), seen[max(0, len(seen)-len(pattern)+1):]...)
			}
			if _, err := s.Write(buf[:n]); err != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}
