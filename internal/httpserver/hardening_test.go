package httpserver_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/vehicle-stats/vehicle-stats/internal/httpserver"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

const token = "0123456789abcdef-admin"

func engine(cfg httpserver.Config) *gin.Engine {
	e := httpserver.NewEngine(cfg, quiet, httpserver.NewRegistry(), httpserver.NewReadiness())
	e.PUT("/rate", func(c *gin.Context) {
		b, err := io.ReadAll(c.Request.Body)
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			c.JSON(http.StatusRequestEntityTooLarge, gin.H{"error": err.Error()})
			return
		}
		c.JSON(http.StatusOK, gin.H{"read": len(b)})
	})
	e.GET("/status", func(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"ok": true}) })
	return e
}

func do(e http.Handler, method, path, auth string, body io.Reader) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, body)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, req)
	return rec
}

func jsonError(t *testing.T, rec *httptest.ResponseRecorder) string {
	t.Helper()
	var v struct {
		Error string `json:"error"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil || v.Error == "" {
		t.Fatalf("status %d: body %q is not a JSON error", rec.Code, rec.Body.String())
	}
	return v.Error
}

func TestAdminToken(t *testing.T) {
	e := engine(httpserver.Config{AdminToken: token})
	body := func() io.Reader { return strings.NewReader(`{"rate": 5}`) }

	rec := do(e, http.MethodPut, "/rate", "", body())
	if rec.Code != http.StatusUnauthorized || rec.Header().Get("WWW-Authenticate") == "" {
		t.Errorf("no token: %d %v, want 401 with WWW-Authenticate", rec.Code, rec.Header())
	}
	if msg := jsonError(t, rec); !strings.Contains(msg, "Bearer") {
		t.Errorf("401 message %q does not say what to send", msg)
	}
	for _, auth := range []string{"Basic " + token, "Bearer", "Bearer "} {
		if rec := do(e, http.MethodPut, "/rate", auth, body()); rec.Code != http.StatusUnauthorized {
			t.Errorf("Authorization %q: %d, want 401", auth, rec.Code)
		}
	}
	for _, wrong := range []string{"Bearer wrong", "Bearer " + token + "x", "Bearer " + token[:len(token)-1]} {
		rec := do(e, http.MethodPut, "/rate", wrong, body())
		if rec.Code != http.StatusForbidden {
			t.Errorf("Authorization %q: %d, want 403", wrong, rec.Code)
		}
		if msg := jsonError(t, rec); strings.Contains(msg, token) {
			t.Errorf("403 message shows the token: %q", msg)
		}
	}
	for _, auth := range []string{"Bearer " + token, "bearer " + token} {
		if rec := do(e, http.MethodPut, "/rate", auth, body()); rec.Code != http.StatusOK {
			t.Errorf("Authorization %q: %d %s, want 200", auth, rec.Code, rec.Body)
		}
	}
	// Reading needs no token; POST and DELETE are guarded like PUT.
	if rec := do(e, http.MethodGet, "/status", "", nil); rec.Code != http.StatusOK {
		t.Errorf("GET /status without a token: %d", rec.Code)
	}
	for _, m := range []string{http.MethodPost, http.MethodDelete, http.MethodPatch} {
		e.Handle(m, "/anything", func(c *gin.Context) { c.Status(http.StatusNoContent) })
		if rec := do(e, m, "/anything", "", nil); rec.Code != http.StatusUnauthorized {
			t.Errorf("%s without a token: %d, want 401", m, rec.Code)
		}
	}
	// A request no route takes changes nothing: 404, or 405 for a method
	// the path lacks, token or not.
	if rec := do(e, http.MethodPost, "/nowhere", "", nil); rec.Code != http.StatusNotFound {
		t.Errorf("POST /nowhere without a token: %d, want 404", rec.Code)
	}
	if rec := do(e, http.MethodPost, "/rate", "", nil); rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST /rate without a token: %d, want 405", rec.Code)
	}
	// No token configured: open, as the contract's default.
	if rec := do(engine(httpserver.Config{}), http.MethodPut, "/rate", "", body()); rec.Code != http.StatusOK {
		t.Errorf("no admin token set: %d, want 200", rec.Code)
	}
}

func TestBodyLimit(t *testing.T) {
	e := engine(httpserver.Config{MaxBodyBytes: 1024})
	if rec := do(e, http.MethodPut, "/rate", "", strings.NewReader(strings.Repeat("x", 1024))); rec.Code != http.StatusOK {
		t.Errorf("body of exactly the limit: %d", rec.Code)
	}
	rec := do(e, http.MethodPut, "/rate", "", strings.NewReader(strings.Repeat("x", 1025)))
	if rec.Code != http.StatusRequestEntityTooLarge || !strings.Contains(jsonError(t, rec), "http.max_body_bytes") {
		t.Errorf("declared body over the limit: %d %s", rec.Code, rec.Body)
	}
	// A body of unknown length (chunked) is cut off at the limit.
	req := httptest.NewRequest(http.MethodPut, "/rate", io.MultiReader(strings.NewReader(strings.Repeat("y", 4096))))
	req.ContentLength = -1
	rec = httptest.NewRecorder()
	e.ServeHTTP(rec, req)
	if rec.Code != http.StatusRequestEntityTooLarge {
		t.Errorf("chunked body over the limit: %d %s", rec.Code, rec.Body)
	}
}

func serve(t *testing.T, cfg httpserver.Config, h http.Handler) string {
	t.Helper()
	cfg.Addr = "127.0.0.1:0"
	s, err := httpserver.Listen(cfg, h, quiet)
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = s.Shutdown(ctx)
	})
	return s.Addr()
}

// TestSlowHeadersAreDropped: a client that sends one header byte every
// 100 ms would hold a connection for ever without a header timeout; the
// server must close it once ReadHeaderTimeout (500 ms) has passed. The
// client gives up after 20 s, so the test is bounded either way.
func TestSlowHeadersAreDropped(t *testing.T) {
	addr := serve(t, httpserver.Config{ReadHeaderTimeout: 500 * time.Millisecond}, engine(httpserver.Config{}))
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	closed := make(chan error, 1)
	go func() { // the server closing the connection ends this read
		_, err := io.Copy(io.Discard, conn)
		closed <- err
	}()
	start := time.Now()
	if _, err := io.WriteString(conn, "GET /healthz HTTP/1.1\r\nHost: x\r\n"); err != nil {
		t.Fatal(err)
	}
	header := "X-Slow: " + strings.Repeat("a", 400)
	giveUp := time.After(20 * time.Second)
	for i := 0; ; i++ {
		select {
		case <-closed:
			t.Logf("dropped after %s and %d dribbled bytes", time.Since(start).Round(time.Millisecond), i)
			if i == len(header) {
				t.Fatal("the whole header was sent: the test did not dribble")
			}
			return
		case <-giveUp:
			t.Fatalf("the server still holds a connection whose headers never end after %s", time.Since(start))
		case <-time.After(100 * time.Millisecond):
		}
		if i < len(header) {
			_, _ = conn.Write([]byte{header[i]}) // fails once the server has closed
		}
	}
}

// TestWriteTimeoutAndUnbounded: the write timeout cuts a slow ordinary
// response, while a handler that calls Unbounded streams past both the read
// and the write timeout with its request context alive.
func TestWriteTimeoutAndUnbounded(t *testing.T) {
	const timeout = 300 * time.Millisecond
	stream := func(unbounded bool) gin.HandlerFunc {
		return func(c *gin.Context) {
			if unbounded {
				if err := httpserver.Unbounded(c.Writer); err != nil {
					t.Error(err)
				}
			}
			c.Status(http.StatusOK)
			for i := range 10 { // 10 x 150 ms = 1.5 s, five times the timeouts
				if c.Request.Context().Err() != nil {
					return
				}
				fmt.Fprintf(c.Writer, "chunk %d\n", i)
				c.Writer.Flush()
				time.Sleep(150 * time.Millisecond)
			}
			fmt.Fprint(c.Writer, "end\n")
		}
	}
	e := engine(httpserver.Config{})
	e.GET("/bounded", stream(false))
	e.GET("/unbounded", stream(true))
	addr := serve(t, httpserver.Config{ReadTimeout: timeout, WriteTimeout: timeout, ReadHeaderTimeout: timeout}, e)

	read := func(path string) (string, error) {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		var lines []string
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			lines = append(lines, sc.Text())
		}
		return strings.Join(lines, ","), sc.Err()
	}
	if got, err := read("/unbounded"); err != nil || !strings.HasSuffix(got, "chunk 9,end") {
		t.Errorf("unbounded stream: %q, %v; want all ten chunks and the end", got, err)
	}
	if got, _ := read("/bounded"); strings.HasSuffix(got, "end") {
		t.Errorf("bounded stream ran past the write timeout: %q", got)
	}
}

func TestPprofOnItsOwnListener(t *testing.T) {
	// Never on the service's engine.
	if rec := do(engine(httpserver.Config{Pprof: true}), http.MethodGet, "/debug/pprof/", "", nil); rec.Code != http.StatusNotFound {
		t.Errorf("/debug/pprof/ on the service's engine: %d, want 404", rec.Code)
	}
	s, err := httpserver.ListenPprof(httpserver.Config{Pprof: true, PprofAddr: "127.0.0.1:0"}, quiet)
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve()
	defer s.Shutdown(context.Background())
	resp, err := http.Get("http://" + s.Addr() + "/debug/pprof/cmdline")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("/debug/pprof/cmdline on the profiler's listener: %d", resp.StatusCode)
	}
	if d := httpserver.DefaultConfig(":9080", "127.0.0.1:9081"); d.Pprof || !strings.HasPrefix(d.PprofAddr, "127.0.0.1:") {
		t.Errorf("default profiler: on=%v addr %s; want off, loopback", d.Pprof, d.PprofAddr)
	}
}

func TestValidate(t *testing.T) {
	good := httpserver.DefaultConfig(":9080", "127.0.0.1:9081")
	if err := good.Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	for n, ok := range map[int]bool{15: false, 16: true} {
		c := good
		c.AdminToken = strings.Repeat("t", n)
		if err := c.Validate(); (err == nil) != ok {
			t.Errorf("admin token of %d characters: %v", n, err)
		}
	}
	bad := good
	bad.AdminToken = "short-secret"
	bad.ReadHeaderTimeout = 0
	bad.WriteTimeout = -time.Second
	bad.MaxBodyBytes = 10
	bad.Pprof, bad.PprofAddr = true, "loopback"
	err := bad.Validate()
	if err == nil {
		t.Fatal("Validate accepted bad limits")
	}
	for _, key := range []string{"admin_token:", "read_header_timeout:", "write_timeout:", "max_body_bytes:", "pprof_addr:"} {
		if !strings.Contains(err.Error(), key) {
			t.Errorf("no %s in %v", key, err)
		}
	}
	// The contract's minimum, and what to do about it.
	if want := "admin_token: 12 characters is too short to be secret; use at least 16 (e.g. openssl rand -hex 32)"; !strings.Contains(err.Error(), want) {
		t.Errorf("no %q in %v", want, err)
	}
	if strings.Contains(err.Error(), "short-secret") {
		t.Errorf("the error shows the token: %v", err)
	}
}
