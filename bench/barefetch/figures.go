package main

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"
	"go.yaml.in/yaml/v3"
)

// fetchConfig reads the consumer's fetch from the processor's YAML file:
// MinBytes 1 (the consumer's, fixed in its code), MaxBytes
// kafka.fetch_max_bytes, MaxWait kafka.fetch_max_wait, the wait of a
// partition that is catching up. The file is pinned to the processor's
// built-in defaults by its config test, so these are the values a processor
// started without settings fetches with. Both keys must be there.
func fetchConfig(file []byte) (kafka.ReadBatchConfig, error) {
	var doc struct {
		Kafka struct {
			FetchMaxBytes *int    `yaml:"fetch_max_bytes"`
			FetchMaxWait  *string `yaml:"fetch_max_wait"`
		} `yaml:"kafka"`
	}
	if err := yaml.Unmarshal(file, &doc); err != nil {
		return kafka.ReadBatchConfig{}, fmt.Errorf("parse: %w", err)
	}
	var errs []error
	cfg := kafka.ReadBatchConfig{MinBytes: 1}
	switch k := doc.Kafka; {
	case k.FetchMaxBytes == nil:
		errs = append(errs, errors.New("kafka.fetch_max_bytes is missing"))
	case *k.FetchMaxBytes <= 0:
		errs = append(errs, fmt.Errorf("kafka.fetch_max_bytes is %d; it must be positive", *k.FetchMaxBytes))
	default:
		cfg.MaxBytes = *k.FetchMaxBytes
	}
	switch w := doc.Kafka.FetchMaxWait; {
	case w == nil:
		errs = append(errs, errors.New("kafka.fetch_max_wait is missing"))
	default:
		d, err := time.ParseDuration(*w)
		if err != nil || d <= 0 {
			errs = append(errs, fmt.Errorf("kafka.fetch_max_wait is %q; it must be a positive duration like 500ms", *w))
		}
		cfg.MaxWait = d
	}
	return cfg, errors.Join(errs...)
}

// figures is what one run read, printed as one line that measure report
// quotes: "barefetch: key=value ...".
type figures struct {
	Partitions int
	MaxBytes   int
	MaxWait    time.Duration
	Records    int64
	Bytes      int64
	Fetches    int64
	// Seconds is from the metadata lookup to the last partition done;
	// FetchSeconds from the first fetch sent.
	Seconds, FetchSeconds float64
}

// String is the line: every figure as key=value, rates included.
func (f figures) String() string {
	rate := func(s float64) float64 {
		if s <= 0 {
			return 0
		}
		return float64(f.Records) / s
	}
	fields := []string{
		fmt.Sprintf("partitions=%d", f.Partitions),
		fmt.Sprintf("max_bytes=%d", f.MaxBytes),
		fmt.Sprintf("max_wait=%s", f.MaxWait),
		fmt.Sprintf("records=%d", f.Records),
		fmt.Sprintf("bytes=%d", f.Bytes),
		fmt.Sprintf("fetches=%d", f.Fetches),
		fmt.Sprintf("seconds=%.3f", f.Seconds),
		fmt.Sprintf("fetch_seconds=%.3f", f.FetchSeconds),
		fmt.Sprintf("records_per_s=%.0f", rate(f.Seconds)),
		fmt.Sprintf("fetch_records_per_s=%.0f", rate(f.FetchSeconds)),
	}
	return "barefetch: " + strings.Join(fields, " ")
}
