package redisconn

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"testing"
)

func TestLibraryMessagesAreStructured(t *testing.T) {
	var buf bytes.Buffer
	l := libLogger{slog.New(slog.NewJSONHandler(&buf, nil))}
	l.Printf(context.Background(), "redis: connection pool: failed to dial after %d attempts: %v", 5, "connection refused")
	var line map[string]any
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
		t.Fatalf("not one JSON line: %q: %v", buf.String(), err)
	}
	if line["level"] != "WARN" || line["msg"] != "redis client" ||
		line["detail"] != "redis: connection pool: failed to dial after 5 attempts: connection refused" {
		t.Errorf("got %v", line)
	}
}
