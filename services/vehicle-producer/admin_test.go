package main_test

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vehicle-stats/vehicle-stats/internal/testenv"
	"github.com/vehicle-stats/vehicle-stats/internal/testenv/proc"
)

// TestIntegrationAdminToken runs the binary with http.admin_token read from
// a file (PRODUCER_HTTP_ADMIN_TOKEN_FILE, as a mounted Docker or Kubernetes
// secret): PUT /rate answers 401 without the token and 403 with a wrong one,
// changing nothing, and 200 with it; reading stays open; the token is in
// neither /status nor the log.
func TestIntegrationAdminToken(t *testing.T) {
	env := testenv.Get(t)
	t.Parallel()
	const token = "e2e-admin-token-3f9c1a7b5d"
	tokenFile := filepath.Join(t.TempDir(), "admin-token")
	if err := os.WriteFile(tokenFile, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	topic := testenv.UniqueName("producer-admin")
	deleteTopic(t, env.Brokers, topic)
	p := start(t, proc.ProducerConfig{
		Brokers: env.Brokers, Topic: topic, Rate: 1, AdminTokenFile: tokenFile,
		HTTPReadTimeout: 5 * time.Second, HTTPWriteTimeout: 5 * time.Second, HTTPReadHeaderTimeout: 2 * time.Second,
	})
	waitFor(t, 30*time.Second, "/readyz to answer 200", func() bool {
		code, _, err := p.get("/readyz")
		return err == nil && code == http.StatusOK
	})
	put := func(auth string) (int, string) {
		req, _ := http.NewRequest(http.MethodPut, "http://"+p.addr+"/rate", strings.NewReader(`{"rate": 7}`))
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body struct {
			Error string `json:"error"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&body)
		return resp.StatusCode, body.Error
	}
	if code, msg := put(""); code != http.StatusUnauthorized || msg == "" {
		t.Errorf("PUT /rate without a token: %d %q, want 401 with a JSON error", code, msg)
	}
	if code, msg := put("Bearer not-the-token"); code != http.StatusForbidden || msg == "" {
		t.Errorf("PUT /rate with a wrong token: %d %q, want 403 with a JSON error", code, msg)
	}
	if st := p.status(t); st.Rate != 1 {
		t.Errorf("a refused PUT /rate changed the rate to %v", st.Rate)
	}
	if code, msg := put("Bearer " + token); code != http.StatusOK {
		t.Fatalf("PUT /rate with the token: %d %q", code, msg)
	}
	if st := p.status(t); st.Rate != 7 {
		t.Errorf("rate %v after PUT /rate with the token, want 7", st.Rate)
	}
	_, body, err := p.get("/status")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(body), token) || !strings.Contains(string(body), `"admin_token":"***"`) {
		t.Errorf("/status shows the token or does not say one is set:\n%s", body)
	}
	if strings.Contains(p.logText(), token) {
		t.Errorf("the log shows the token:\n%s", p.logText())
	}
}
