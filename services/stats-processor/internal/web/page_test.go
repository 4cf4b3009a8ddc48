package web

import (
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/vehicle-stats/vehicle-stats/internal/httpserver"
)

func get(t *testing.T, url string) (*http.Response, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

func TestPageServesEmbeddedFiles(t *testing.T) {
	h := newHarness(t, Options{})
	for _, f := range []struct{ path, ctype, contains string }{
		{"/", "text/html", `<script src="/live/app.js"`},
		{"/live/app.js", "text/javascript", "/stats/stream"},
		{"/live/app.css", "text/css", "prefers-color-scheme"},
		{"/live/icon.svg", "image/svg+xml", "<svg"},
	} {
		resp, body := get(t, h.srv.URL+f.path)
		if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), f.ctype) {
			t.Errorf("GET %s: %d %q, want 200 %s", f.path, resp.StatusCode, resp.Header.Get("Content-Type"), f.ctype)
		}
		if !strings.Contains(body, f.contains) {
			t.Errorf("GET %s lacks %q", f.path, f.contains)
		}
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
			t.Errorf("GET %s: CSP %q", f.path, csp)
		}
	}
	for _, p := range []string{"/live/nope.js", "/live/..", "/live/index.html"} {
		resp, _ := get(t, h.srv.URL+p)
		if resp.StatusCode == http.StatusOK && resp.Request.URL.Path != "/" {
			t.Errorf("GET %s: 200 at %s", p, resp.Request.URL.Path)
		}
	}
}

// TestPageWorksOffline: every file the page loads is its own; no CDN, no
// web font, nothing absolute but the SVG namespace.
func TestPageWorksOffline(t *testing.T) {
	url := regexp.MustCompile(`(?i)(https?:)?//[a-z0-9.-]+\.[a-z]{2,}[^\s"'()]*`)
	err := fs.WalkDir(assets, "static", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(assets, path)
		if err != nil {
			return err
		}
		for _, u := range url.FindAllString(string(b), -1) {
			if u != "http://www.w3.org/2000/svg" {
				t.Errorf("%s refers to %s", path, u)
			}
		}
		if strings.Contains(string(b), "@import") || strings.Contains(string(b), "@font-face") {
			t.Errorf("%s imports a style sheet or font", path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	index, _ := fs.ReadFile(assets, "static/index.html")
	for _, m := range regexp.MustCompile(`(?:src|href)="([^"]*)"`).FindAllStringSubmatch(string(index), -1) {
		if !strings.HasPrefix(m[1], "/") || strings.HasPrefix(m[1], "//") {
			t.Errorf("index.html loads %q, not a path on this server", m[1])
		}
	}
}

// TestPageAnswersHead: HEAD gets the headers GET would, and a HEAD of the
// stream gets the stream's headers and ends (its client takes no body).
func TestPageAnswersHead(t *testing.T) {
	h := newHarness(t, Options{})
	for _, path := range []string{"/", "/live/app.js", "/stats/stream"} {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodHead, h.srv.URL+path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") == "" {
			t.Errorf("HEAD %s: %d %q", path, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
	}
	// Served in this goroutine: ServeHTTP returning is the stream's end.
	done := make(chan *httptest.ResponseRecorder)
	go func() {
		rec := httptest.NewRecorder()
		h.srv.Config.Handler.ServeHTTP(rec, httptest.NewRequest(http.MethodHead, "/stats/stream", nil))
		done <- rec
	}()
	select {
	case rec := <-done:
		if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "text/event-stream" || rec.Body.Len() != 0 {
			t.Errorf("HEAD /stats/stream: %d %v %q", rec.Code, rec.Header(), rec.Body)
		}
	case <-time.After(10 * time.Second): // a bound, should it stream on
		t.Fatal("HEAD /stats/stream still streams")
	}
}

// TestPageNotFoundEchoIsCut: a missing file's name is echoed cut to
// httpserver.MaxQuoted characters.
func TestPageNotFoundEchoIsCut(t *testing.T) {
	h := newHarness(t, Options{})
	resp, body := get(t, h.srv.URL+"/live/"+strings.Repeat("x", 2000)+".js")
	if resp.StatusCode != http.StatusNotFound || !strings.Contains(body, strings.Repeat("x", httpserver.MaxQuoted-1)+`…`) || len(body) > 200 {
		t.Errorf("404 for a long name: %d %.300s", resp.StatusCode, body)
	}
}
