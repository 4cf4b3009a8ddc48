package web

import (
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// One host holding 100 streams open takes its own share of the slots, not
// all of them: another host still gets a stream.
func TestStreamOneHostCannotTakeEverySlot(t *testing.T) {
	h := newHarness(t, Options{}) // the defaults: 100 streams, 10 per client
	hog, other := net.IPv4(127, 0, 0, 1), net.IPv4(127, 0, 0, 2)
	statuses := map[int]int{}
	var tooMany *conn
	for range 100 {
		c := h.connectFrom(t, hog)
		statuses[c.resp.StatusCode]++
		if c.resp.StatusCode != http.StatusOK && tooMany == nil {
			tooMany = c
		}
	}
	t.Logf("one host asked for 100 streams: %v", statuses)
	if statuses[http.StatusOK] != DefaultMaxPerClient || statuses[http.StatusTooManyRequests] != 100-DefaultMaxPerClient {
		t.Errorf("statuses %v, want %d × 200 and the rest 429", statuses, DefaultMaxPerClient)
	}
	c := h.connectFrom(t, other)
	if c.resp.StatusCode != http.StatusOK {
		t.Fatalf("another host got %d while one host held its streams, want 200", c.resp.StatusCode)
	}
	c.next(t, "stats", 2*time.Second)
	if tooMany == nil {
		return
	}
	var body struct{ Error string }
	if err := json.NewDecoder(tooMany.resp.Body).Decode(&body); err != nil || !strings.Contains(body.Error, "from your address (at most 10)") {
		t.Errorf("429 body %+v (%v), want a JSON error naming the per-client limit", body, err)
	}
	if tooMany.resp.Header.Get("Retry-After") == "" {
		t.Error("429 without Retry-After")
	}
}

// The total limit still holds over many hosts, with 503; each refusal is
// reported, by kind.
func TestStreamLimitsReportRefusals(t *testing.T) {
	var mu sync.Mutex
	refused := map[error]int{}
	h := newHarness(t, Options{MaxClients: 3, MaxPerClient: 2, Refused: func(err error) {
		mu.Lock()
		defer mu.Unlock()
		refused[err]++
	}})
	want := []int{200, 200, 429, 200, 503}
	for i, ip := range []net.IP{{127, 0, 0, 1}, {127, 0, 0, 1}, {127, 0, 0, 1}, {127, 0, 0, 2}, {127, 0, 0, 3}} {
		if c := h.connectFrom(t, ip); c.resp.StatusCode != want[i] {
			t.Errorf("stream %d from %s: %d, want %d", i+1, ip, c.resp.StatusCode, want[i])
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if refused[ErrTooManyFromClient] != 1 || refused[ErrTooManyClients] != 1 {
		t.Errorf("refusals reported %v, want one of each", refused)
	}
}

// A stream ends after its lifetime, having told the browser to reconnect
// soon; its slot is free again.
func TestStreamLifetimeEnds(t *testing.T) {
	h := newHarness(t, Options{MaxLifetime: 50 * time.Millisecond, MaxPerClient: 1})
	c := h.connect(t)
	var retry string
	ended := time.After(10 * time.Second) // a guard: the lifetime is 50 ms
	for open := true; open; {
		select {
		case ev, ok := <-c.events:
			open = ok
			if ev.retry != "" {
				retry = ev.retry
			}
		case <-ended:
			t.Fatal("the stream is still open 10 s into a lifetime of 50 ms")
		}
	}
	if retry != "2000" {
		t.Errorf("retry hint %q, want 2000 (ms)", retry)
	}
	waitFor(t, "the ended stream's slot to be freed", func() bool { return h.stream.Clients() == 0 })
	if again := h.connect(t); again.resp.StatusCode != http.StatusOK {
		t.Errorf("reconnecting after the lifetime got %d", again.resp.StatusCode)
	}
}

func TestClientKey(t *testing.T) {
	for addr, want := range map[string]string{
		"127.0.0.1:5000":          "127.0.0.1",
		"[::ffff:10.1.2.3]:80":    "10.1.2.3",
		"[2001:db8:1:2:3::9]:443": "2001:db8:1:2::/64",
		"[2001:db8:1:2:ff::1]:1":  "2001:db8:1:2::/64",
		"not-an-address":          "not-an-address",
	} {
		if got := clientKey(addr); got != want {
			t.Errorf("clientKey(%q) = %q, want %q", addr, got, want)
		}
	}
}
