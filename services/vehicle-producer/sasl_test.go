package main_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/vehicle-stats/vehicle-stats/internal/testenv"
	"github.com/vehicle-stats/vehicle-stats/internal/testenv/private"
)

// TestIntegrationKafkaSASL sends through a broker listener that requires
// SASL/PLAIN (kafka.sasl.*): exactly N records arrive, and /status does not
// show the password.
func TestIntegrationKafkaSASL(t *testing.T) {
	testenv.Get(t)
	k := private.StartKafkaSASL(t)
	const n, seed = 500, 77
	topic := testenv.UniqueName("producer-sasl")
	p := start(t, map[string]string{
		"PRODUCER_KAFKA_BROKERS":        k.SASLAddr,
		"PRODUCER_KAFKA_TOPIC":          topic,
		"PRODUCER_KAFKA_SASL_MECHANISM": "plain",
		// The test broker's SASL listener has no TLS.
		"PRODUCER_KAFKA_SASL_ALLOW_PLAINTEXT_PASSWORD": "true",
		"PRODUCER_KAFKA_SASL_USERNAME":                 k.SASLUser,
		"PRODUCER_KAFKA_SASL_PASSWORD":                 k.SASLPassword,
		"PRODUCER_COUNT":                               fmt.Sprint(n),
		"PRODUCER_RATE":                                "0",
		"PRODUCER_SEED":                                fmt.Sprint(seed),
	})
	if code := p.wait(t, 90*time.Second); code != 0 {
		t.Fatalf("exit code %d\n%s", code, p.logText())
	}
	msgs := readAll(t, []string{k.Addr}, topic) // read back on the plaintext listener
	if len(msgs) != n {
		t.Fatalf("%d records in the topic, want exactly %d", len(msgs), n)
	}
	seen := decodeAll(t, msgs)
	for i, s := range expectedStickers(t, seed, n) {
		if seen[s] != 1 {
			t.Fatalf("event %d (sticker %s) is in the topic %d times", i+1, s, seen[s])
		}
	}
}
