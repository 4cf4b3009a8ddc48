package main_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/vehicle-stats/vehicle-stats/internal/testenv"
	"github.com/vehicle-stats/vehicle-stats/internal/testenv/proc"
)

// TestStatusWhileKafkaUnreachable: while no broker answers (a closed port)
// and start-up waits for one, /readyz says 503 and /status agrees: Kafka is
// failing, with the error and since when, and started is the process's
// start, not the zero time.
func TestStatusWhileKafkaUnreachable(t *testing.T) {
	before := time.Now()
	closed := fmt.Sprintf("127.0.0.1:%d", testenv.Port(t))
	p := start(t, proc.ProducerConfig{Brokers: []string{closed}, StartupTimeout: 2 * time.Minute})

	var readyz []byte
	waitFor(t, 30*time.Second, "/readyz to answer 503", func() bool {
		code, body, err := p.get("/readyz")
		readyz = body
		return err == nil && code == http.StatusServiceUnavailable
	})
	code, body, err := p.get("/status")
	if err != nil || code != http.StatusOK {
		t.Fatalf("GET /status = %d %s %v", code, body, err)
	}
	var st struct {
		Started      time.Time `json:"started"`
		Kafka        string    `json:"kafka"`
		KafkaFailing *struct {
			Error string    `json:"error"`
			Since time.Time `json:"since"`
		} `json:"kafkaFailing"`
	}
	if err := json.Unmarshal(body, &st); err != nil {
		t.Fatal(err)
	}
	if st.Kafka != "failing" || st.KafkaFailing == nil || !strings.Contains(st.KafkaFailing.Error, closed) ||
		st.KafkaFailing.Since.Before(before) || st.KafkaFailing.Since.After(time.Now()) {
		t.Errorf("/status while /readyz says %s:\n%s", readyz, body)
	}
	if st.Started.Before(before.Add(-time.Second)) || st.Started.After(time.Now()) {
		t.Errorf("started %s, want the process's start (after %s):\n%s", st.Started, before, body)
	}
}
