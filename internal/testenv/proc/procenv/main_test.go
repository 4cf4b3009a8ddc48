package main

import (
	"slices"
	"strings"
	"testing"
)

// TestComparesEnvironment: the flags bench/compare/run.sh gives make the
// environment it typed by hand before.
func TestComparesEnvironment(t *testing.T) {
	var b strings.Builder
	err := run([]string{"-brokers", "k:1", "-input", "in", "-output", "out", "-dead-letter", "dlq", "-group", "g",
		"-earliest", "-redis", "r:2", "-key-prefix", "p", "-http-addr", "127.0.0.1:9", "-idle-timeout", "2s",
		"-set", "PROCESSOR_LOG_LEVEL=info"}, &b)
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Fields(b.String())
	want := []string{"PROCESSOR_KAFKA_BROKERS=k:1", "PROCESSOR_KAFKA_INPUT_TOPIC=in", "PROCESSOR_KAFKA_OUTPUT_TOPIC=out",
		"PROCESSOR_KAFKA_DEAD_LETTER_TOPIC=dlq", "PROCESSOR_KAFKA_GROUP_ID=g", "PROCESSOR_KAFKA_START_OFFSET=earliest",
		"PROCESSOR_REDIS_ADDR=r:2", "PROCESSOR_REDIS_KEY_PREFIX=p", "PROCESSOR_HTTP_ADDR=127.0.0.1:9",
		"PROCESSOR_WATERMARK_IDLE_TIMEOUT=2s", "PROCESSOR_LOG_LEVEL=info"}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("procenv printed\n%v\nwant\n%v", got, want)
	}
}

// TestProducerEnvironment: the flags bench/producer/run.sh gives make the
// environment it typed by hand before.
func TestProducerEnvironment(t *testing.T) {
	var b strings.Builder
	err := run([]string{"producer", "-brokers", "k:1", "-topic", "bench", "-compression", "lz4", "-count", "1000000",
		"-unpaced", "-seed", "1", "-http-addr", "127.0.0.1:0"}, &b)
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Fields(b.String())
	want := []string{"PRODUCER_KAFKA_BROKERS=k:1", "PRODUCER_KAFKA_TOPIC=bench", "PRODUCER_KAFKA_COMPRESSION=lz4",
		"PRODUCER_COUNT=1000000", "PRODUCER_RATE=0", "PRODUCER_SEED=1", "PRODUCER_HTTP_ADDR=127.0.0.1:0"}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("procenv producer printed\n%v\nwant\n%v", got, want)
	}
	if err := run([]string{"consumer"}, &b); err == nil || !strings.Contains(err.Error(), "processor or producer") {
		t.Errorf("an unknown service gives %v, want an error naming the services", err)
	}
}
