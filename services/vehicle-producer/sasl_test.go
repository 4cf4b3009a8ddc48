package main_test

import (
	"testing"
	"time"

	"github.com/vehicle-stats/vehicle-stats/internal/testenv"
	"github.com/vehicle-stats/vehicle-stats/internal/testenv/private"
	"github.com/vehicle-stats/vehicle-stats/internal/testenv/proc"
)

// TestIntegrationKafkaSASL sends through a broker listener that requires
// SASL/PLAIN (kafka.sasl.*): exactly N records arrive, and /status does not
// show the password.
func TestIntegrationKafkaSASL(t *testing.T) {
	testenv.Get(t)
	k := private.StartKafkaSASL(t)
	const n, seed = 500, 77
	topic := testenv.UniqueName("producer-sasl")
	p := start(t, proc.ProducerConfig{
		Brokers: []string{k.SASLAddr}, Topic: topic,
		SASL: proc.KafkaSASL{Mechanism: "plain", Username: k.SASLUser, Password: k.SASLPassword,
			// The test broker's SASL listener has no TLS.
			AllowPlaintextPassword: true},
		Count: n, Unpaced: true, Seed: seed,
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
