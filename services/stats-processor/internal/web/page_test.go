package web

import (
	"io"
	"io/fs"
	"net/http"
	"regexp"
	"strings"
	"testing"
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
