package main_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/vehicle-stats/vehicle-stats/internal/testenv"
	"github.com/vehicle-stats/vehicle-stats/internal/testenv/proc"
)

// A pipeline's window size is fixed at its first start: a processor started
// with another size on the same key prefix refuses to start, naming the key
// and the reset command, instead of reading 20-second counts as 10-second
// ones (which wrote every new window record wrong).
func TestE2EWindowSizeChangeRefused(t *testing.T) {
	env := testenv.Get(t)
	cfg := env.E2EProcessor(t, "shape", 2)
	first := proc.StartProcessor(t, "first", cfg)
	rdb := redis.NewClient(&redis.Options{Addr: env.RedisAddr})
	defer rdb.Close()
	meta := cfg.KeyPrefix + ":{" + cfg.Input + "}:meta"
	waitReady(t, first.Addr, "", 60*time.Second) // started: SIGTERM now stops it cleanly
	if got := rdb.HGet(context.Background(), meta, "size").Val(); got != "20000" {
		t.Fatalf("the first processor recorded window size %q in %s, want 20000", got, meta)
	}
	if err := first.Stop(15 * time.Second); err != nil {
		t.Fatal(err)
	}

	cfg.Window = 10 * time.Second
	cfg.HTTPAddr = fmt.Sprintf("127.0.0.1:%d", testenv.Port(t))
	cfg.Extra = []string{"PROCESSOR_LOG_FORMAT=text"}
	bin := testenv.Binary(t, "./services/stats-processor", true)
	p, err := proc.StartProcess("second", bin, proc.Launch{Args: []string{"--config", "/dev/null"}, Env: cfg.Env(), LogPath: t.TempDir() + "/second.log"})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Kill()
	select {
	case <-p.Done():
	case <-time.After(90 * time.Second):
		t.Fatalf("a processor with another window size still runs after 90 s:\n%s", p.Tail(20))
	}
	log := p.Tail(50)
	if p.ExitCode() == 0 {
		t.Fatalf("exit code 0, want a refusal:\n%s", log)
	}
	for _, want := range []string{"window.size is 10s", "was started with 20s", "stats-processor reset"} {
		if !strings.Contains(log, want) {
			t.Errorf("the refusal does not say %q:\n%s", want, log)
		}
	}
	if got := rdb.HGet(context.Background(), meta, "size").Val(); got != "20000" {
		t.Errorf("recorded window size %q after the refusal, want 20000 kept", got)
	}
}
