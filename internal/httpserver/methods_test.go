package httpserver_test

import (
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/vehicle-stats/vehicle-stats/internal/httpserver"
)

// TestHeadWorksWhereGetDoes, on a real server: HEAD gets GET's status and
// headers, Content-Length included, and no body; a stream answers HEAD
// with its headers and ends.
func TestHeadWorksWhereGetDoes(t *testing.T) {
	e := engine(httpserver.Config{})
	streamEnded := make(chan struct{}, 1)
	httpserver.GET(e, "/stream", func(c *gin.Context) {
		defer func() { streamEnded <- struct{}{} }()
		c.Header("Content-Type", "text/event-stream")
		c.Status(http.StatusOK)
		for {
			_, _ = c.Writer.WriteString(": ping\n\n")
			c.Writer.Flush()
			select {
			case <-c.Request.Context().Done():
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
	})
	addr := "http://" + serve(t, httpserver.Config{}, e)
	for _, path := range []string{"/healthz", "/readyz", "/metrics"} {
		resp, err := http.Get(addr + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		h, err := http.Head(addr + path)
		if err != nil {
			t.Fatal(err)
		}
		h.Body.Close()
		if h.StatusCode != resp.StatusCode || h.Header.Get("Content-Type") != resp.Header.Get("Content-Type") {
			t.Errorf("HEAD %s: %d %q; GET: %d %q", path, h.StatusCode, h.Header.Get("Content-Type"), resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		// /metrics changes between two requests; its length is still there.
		if n, _ := strconv.Atoi(h.Header.Get("Content-Length")); n <= 0 || (path != "/metrics" && n != len(body)) {
			t.Errorf("HEAD %s: Content-Length %q, GET's body is %d bytes", path, h.Header.Get("Content-Length"), len(body))
		}
	}

	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second) // a bound, should the stream run on
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodHead, addr+"/stream", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Errorf("HEAD /stream: %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	select {
	case <-streamEnded:
	case <-ctx.Done():
		t.Error("HEAD /stream: the stream handler still runs")
	}
}

// TestWrongMethodGets405: a method a path has no route for gets 405, an
// Allow header naming those it has, and a JSON error saying so; the
// method's echo is cut.
func TestWrongMethodGets405(t *testing.T) {
	e := engine(httpserver.Config{AdminToken: token})
	for _, tc := range []struct{ method, path, allow string }{
		{http.MethodPut, "/healthz", "GET, HEAD"},
		{http.MethodPost, "/readyz", "GET, HEAD"},
		{http.MethodDelete, "/metrics", "GET, HEAD"},
		{http.MethodGet, "/rate", "PUT"},
		{http.MethodHead, "/rate", "PUT"},
		{http.MethodPost, "/rate", "PUT"}, // no token needed to learn that
		{strings.Repeat("X", 1000), "/healthz", "GET, HEAD"},
	} {
		rec := do(e, tc.method, tc.path, "", nil)
		if rec.Code != http.StatusMethodNotAllowed || rec.Header().Get("Allow") != tc.allow {
			t.Errorf("%.10s %s: %d Allow %q, want 405 Allow %q", tc.method, tc.path, rec.Code, rec.Header().Get("Allow"), tc.allow)
			continue
		}
		if tc.method == http.MethodHead {
			continue
		}
		msg := jsonError(t, rec)
		if !strings.Contains(msg, tc.allow) || len(msg) > 200 {
			t.Errorf("%.10s %s: message %q, want the allowed methods and a short echo", tc.method, tc.path, msg)
		}
	}
}

func TestQuote(t *testing.T) {
	long := strings.Repeat("a", 10_000)
	for _, tc := range []struct{ in, want string }{
		{"", `""`},
		{"10x", `"10x"`},
		{`say "hi"`, `"say \"hi\""`},
		{strings.Repeat("b", 64), `"` + strings.Repeat("b", 64) + `"`},
		{strings.Repeat("b", 65), `"` + strings.Repeat("b", 63) + `…"`},
		{long, `"` + long[:63] + `…"`},
		{strings.Repeat("é", 100), `"` + strings.Repeat("é", 63) + `…"`},
		{strings.Repeat("\x00", 100), `"` + strings.Repeat(`\x00`, 15) + `…"`},
		{"\xff\xfe", `"\xff\xfe"`},
	} {
		got := httpserver.Quote(tc.in)
		if got != tc.want {
			t.Errorf("Quote(%.20q) = %s, want %s", tc.in, got, tc.want)
		}
		if n := utf8.RuneCountInString(got) - 2; n > httpserver.MaxQuoted {
			t.Errorf("Quote(%.20q): %d characters between the quotes", tc.in, n)
		}
		if !strings.HasSuffix(got, `…"`) {
			if back, err := strconv.Unquote(got); err != nil || back != tc.in {
				t.Errorf("Quote(%.20q) = %s does not read back: %q %v", tc.in, got, back, err)
			}
		}
	}
}

func FuzzQuote(f *testing.F) {
	f.Add("limit=10")
	f.Add(strings.Repeat("\x01é", 50))
	f.Fuzz(func(t *testing.T, s string) {
		got := httpserver.Quote(s)
		if n := utf8.RuneCountInString(got) - 2; n > httpserver.MaxQuoted {
			t.Fatalf("Quote(%q) = %s: %d characters", s, got, n)
		}
		whole := strconv.Quote(s)
		if got != whole && (!strings.HasSuffix(got, `…"`) || !strings.HasPrefix(whole, strings.TrimSuffix(got, `…"`))) {
			t.Fatalf("Quote(%q) = %s is neither %s nor its start cut with …", s, got, whole)
		}
	})
}
