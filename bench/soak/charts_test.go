package main

import (
	"bytes"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"testing"
)

func TestDrawChartsWritesEveryPNG(t *testing.T) {
	samples := run(60, func(i int, s *Sample) {
		steady(i, s)
		if i >= 20 && i < 23 {
			s.Instances[1] = InstanceSample{RSS: math.NaN(), Heap: math.NaN(), Goroutines: math.NaN(), OpenFDs: math.NaN(), CPU: math.NaN()}
		}
		if i == 20 {
			s.Event = "SIGKILL soak-p1"
		}
		if i == 40 {
			s.Event = "redis restart (1.5 s down)"
			s.RedisMemory, s.RedisKeys = math.NaN(), math.NaN()
		}
	})
	dir := t.TempDir()
	files, err := DrawCharts(samples, dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != len(charts()) {
		t.Fatalf("%d files, want %d", len(files), len(charts()))
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("%s: %v", filepath.Base(f), err)
		}
		if r := img.Bounds(); r.Dx() < 500 || r.Dy() < 150 {
			t.Errorf("%s: %v, too small", filepath.Base(f), r)
		}
	}
	if _, err := DrawCharts(samples, filepath.Join(dir, "missing", "dir")); err == nil {
		t.Error("no error for a folder that does not exist")
	}
}
