package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
)

func TestFetchConfig(t *testing.T) {
	for _, tc := range []struct {
		name, yaml string
		want       kafka.ReadBatchConfig
		errs       []string // each must be in the error; none: no error
	}{
		{name: "both keys", yaml: "kafka:\n  fetch_max_bytes: 4194304\n  fetch_max_wait: 500ms\n",
			want: kafka.ReadBatchConfig{MinBytes: 1, MaxBytes: 4 << 20, MaxWait: 500 * time.Millisecond}},
		{name: "other keys around", yaml: "kafka:\n  brokers: [a:1]\n  fetch_max_bytes: 65536\n  fetch_max_wait: 2s\n  tls:\n    enabled: false\nredis:\n  addr: x\n",
			want: kafka.ReadBatchConfig{MinBytes: 1, MaxBytes: 64 << 10, MaxWait: 2 * time.Second}},
		{name: "both missing", yaml: "kafka:\n  brokers: [a:1]\n",
			errs: []string{"kafka.fetch_max_bytes is missing", "kafka.fetch_max_wait is missing"}},
		{name: "no kafka section", yaml: "redis:\n  addr: x\n",
			errs: []string{"kafka.fetch_max_bytes is missing", "kafka.fetch_max_wait is missing"}},
		{name: "bad values", yaml: "kafka:\n  fetch_max_bytes: 0\n  fetch_max_wait: soon\n",
			errs: []string{"kafka.fetch_max_bytes is 0", `kafka.fetch_max_wait is "soon"`}},
		{name: "not YAML", yaml: "kafka: [", errs: []string{"parse"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := fetchConfig([]byte(tc.yaml))
			if len(tc.errs) == 0 {
				if err != nil || got != tc.want {
					t.Fatalf("fetchConfig = %+v, %v; want %+v", got, err, tc.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("fetchConfig = %+v, no error; want one naming %q", got, tc.errs)
			}
			for _, e := range tc.errs {
				if !strings.Contains(err.Error(), e) {
					t.Errorf("error %q does not say %q", err, e)
				}
			}
		})
	}
}

// TestFetchConfigOfTheProcessorFile: the processor's own file names both
// keys (it is pinned to the built-in defaults by the processor's config
// test), so the bare fetch asks for what the processor asks for.
func TestFetchConfigOfTheProcessorFile(t *testing.T) {
	file, err := os.ReadFile(filepath.Join("..", "..", "configs", "stats-processor.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := fetchConfig(file)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.MinBytes != 1 || cfg.MaxBytes <= 0 || cfg.MaxWait <= 0 {
		t.Fatalf("fetch from configs/stats-processor.yaml = %+v", cfg)
	}
}

func TestFiguresString(t *testing.T) {
	for _, tc := range []struct {
		name string
		f    figures
		want string
	}{
		{name: "a run",
			f: figures{Partitions: 6, MaxBytes: 4 << 20, MaxWait: 500 * time.Millisecond, Records: 2_000_006, Bytes: 300_000_000,
				Fetches: 90, Seconds: 2.5, FetchSeconds: 2},
			want: "barefetch: partitions=6 max_bytes=4194304 max_wait=500ms records=2000006 bytes=300000000 fetches=90 " +
				"seconds=2.500 fetch_seconds=2.000 records_per_s=800002 fetch_records_per_s=1000003"},
		{name: "an empty topic",
			f:    figures{Partitions: 1, MaxBytes: 1, MaxWait: time.Second},
			want: "barefetch: partitions=1 max_bytes=1 max_wait=1s records=0 bytes=0 fetches=0 seconds=0.000 fetch_seconds=0.000 records_per_s=0 fetch_records_per_s=0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.f.String(); got != tc.want {
				t.Errorf("String() =\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
}
