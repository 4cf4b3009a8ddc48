package main

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

func TestRun(t *testing.T) {
	status := http.StatusOK
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/readyz" {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(status)
		_, _ = w.Write([]byte(`{"kafka":"not reachable"}`))
	}))
	defer srv.Close()
	u, _ := url.Parse(srv.URL)
	noEnv := func(string) string { return "" }
	// The server's real port arrives through the environment; the URL names
	// another one, as the image's HEALTHCHECK names the default port.
	portEnv := func(name string) string {
		if name == "PROCESSOR_HTTP_ADDR" {
			return ":" + u.Port()
		}
		return ""
	}
	wrongPort := "http://127.0.0.1:1/readyz"

	tests := []struct {
		name   string
		status int
		args   []string
		env    func(string) string
		want   int
		stderr string
	}{
		{"ready", http.StatusOK, []string{srv.URL + "/readyz"}, noEnv, 0, ""},
		{"not ready", http.StatusServiceUnavailable, []string{srv.URL + "/readyz"}, noEnv, 1, "503"},
		{"not found", http.StatusOK, []string{srv.URL + "/nothing"}, noEnv, 1, "404"},
		{"refused", http.StatusOK, []string{wrongPort}, noEnv, 1, "GET http://127.0.0.1:1/readyz"},
		{"port from env", http.StatusOK, []string{"-port-env", "PROCESSOR_HTTP_ADDR", wrongPort}, portEnv, 0, ""},
		{"env unset keeps the URL", http.StatusOK, []string{"-port-env", "PRODUCER_HTTP_ADDR", wrongPort}, portEnv, 1, "127.0.0.1:1"},
		{"bad env", http.StatusOK, []string{"-port-env", "X", wrongPort}, func(string) string { return "nonsense" }, 2, "not host:port"},
		{"no URL", http.StatusOK, nil, noEnv, 2, "usage"},
		{"relative URL", http.StatusOK, []string{"/readyz"}, noEnv, 2, "not an absolute URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status = tt.status
			var stderr bytes.Buffer
			if got := run(tt.args, tt.env, &stderr); got != tt.want {
				t.Errorf("exit code %d, want %d; stderr: %s", got, tt.want, stderr.String())
			}
			if !strings.Contains(stderr.String(), tt.stderr) {
				t.Errorf("stderr %q does not mention %q", stderr.String(), tt.stderr)
			}
		})
	}
}
