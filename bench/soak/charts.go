package main

import (
	"fmt"
	"image/color"
	"math"
	"path/filepath"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// chart is one PNG: a title, a y axis and the series drawn on it.
type chart struct {
	file, title, yLabel string
	scale               float64
	series              []string
}

func charts() []chart {
	per := func(metric string) []string {
		var s []string
		for i := range Instances {
			s = append(s, fmt.Sprintf("p%d_%s", i, metric))
		}
		return s
	}
	return []chart{
		{"rss.png", "Resident memory per processor", "MiB", 1 << 20, per("rss_bytes")},
		{"heap.png", "Go heap in use per processor", "MiB", 1 << 20, per("heap_bytes")},
		{"memory-p0.png", "Processor 0: RSS and the Go runtime's memory", "MiB", 1 << 20,
			[]string{"p0_rss_bytes", "p0_go_sys_bytes", "p0_heap_released_bytes", "p0_heap_bytes"}},
		{"goroutines.png", "Goroutines per processor", "goroutines", 1, per("goroutines")},
		{"fds.png", "Open file descriptors per processor", "fds", 1, per("open_fds")},
		{"redis.png", "Redis used_memory", "MiB", 1 << 20, []string{"redis_used_memory_bytes"}},
		{"redis-keys.png", "Redis keys (DBSIZE)", "keys", 1, []string{"redis_keys"}},
		{"redis-ops.png", "Redis commands per second (INFO total_commands_processed)", "commands/s", 1, []string{"redis_ops_per_s"}},
		{"consumer-lag.png", "Consumer lag: input end minus offsets saved in Redis", "records", 1, []string{"consumer_lag_max_records", "consumer_lag_records"}},
		{"watermark-lag.png", "Watermark lag: wall clock minus pipeline watermark", "seconds", 1, []string{"watermark_lag_max_s", "watermark_lag_s"}},
	}
}

var palette = []color.Color{
	color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff},
	color.RGBA{R: 0xff, G: 0x7f, B: 0x0e, A: 0xff},
	color.RGBA{R: 0x2c, G: 0xa0, B: 0x2c, A: 0xff},
	color.RGBA{R: 0x94, G: 0x67, B: 0xbd, A: 0xff},
}

// DrawCharts writes one PNG per chart into dir, time in minutes on the x
// axis; a gap in a series (an instance down) is a gap in its line. Faults
// are vertical lines: grey for a processor kill, red for a Redis restart.
// It returns the files written.
func DrawCharts(samples []Sample, dir string) ([]string, error) {
	byName := map[string]Series{}
	for _, s := range append(AllSeries(), peakSeries()...) {
		byName[s.Name] = s
	}
	var files []string
	for _, c := range charts() {
		p := plot.New()
		p.Title.Text = c.title
		p.X.Label.Text = "minutes since start"
		p.Y.Label.Text = c.yLabel
		p.Legend.Top = true
		p.Legend.TextStyle.Font.Size = vg.Points(8)
		p.Add(plotter.NewGrid())
		lo, hi := math.Inf(1), math.Inf(-1)
		for i, name := range c.series {
			se := byName[name]
			var seg plotter.XYs
			first := true
			flush := func() error {
				if len(seg) == 0 {
					return nil
				}
				l, err := plotter.NewLine(seg)
				if err != nil {
					return fmt.Errorf("chart %s: %w", c.file, err)
				}
				l.Color = palette[i%len(palette)]
				l.Width = vg.Points(1)
				p.Add(l)
				if first && len(c.series) > 1 {
					p.Legend.Add(legendName(c, name), l)
				}
				first = false
				seg = nil
				return nil
			}
			for k := range samples {
				v := se.get(&samples[k])
				if math.IsNaN(v) {
					if err := flush(); err != nil {
						return nil, err
					}
					continue
				}
				y := v / c.scale
				lo, hi = math.Min(lo, y), math.Max(hi, y)
				seg = append(seg, plotter.XY{X: samples[k].Elapsed / 60, Y: y})
			}
			if err := flush(); err != nil {
				return nil, err
			}
		}
		if lo > hi {
			lo, hi = 0, 1
		}
		lo = math.Min(lo, 0)
		if hi == lo {
			hi = lo + 1
		}
		p.Y.Min, p.Y.Max = lo, hi*1.05
		if len(c.series) > 1 {
			p.Y.Max = hi * 1.35 // room for the legend
		}
		for k := range samples {
			if samples[k].Event == "" {
				continue
			}
			col := color.Color(color.Gray{Y: 0xb0})
			if strings.Contains(samples[k].Event, "redis") {
				col = color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff}
			}
			x := samples[k].Elapsed / 60
			l, err := plotter.NewLine(plotter.XYs{{X: x, Y: p.Y.Min}, {X: x, Y: p.Y.Max}})
			if err != nil {
				return nil, fmt.Errorf("chart %s: %w", c.file, err)
			}
			l.Color = col
			l.Dashes = []vg.Length{vg.Points(3), vg.Points(3)}
			p.Add(l)
		}
		path := filepath.Join(dir, c.file)
		if err := p.Save(8*vg.Inch, 3*vg.Inch, path); err != nil {
			return nil, fmt.Errorf("save chart %s: %w", path, err)
		}
		files = append(files, path)
	}
	return files, nil
}

func legendName(c chart, column string) string {
	switch column {
	case "p0_rss_bytes":
		if len(c.series) == 4 {
			return "RSS"
		}
	case "p0_go_sys_bytes":
		return "obtained by the Go runtime (go_memstats_sys_bytes)"
	case "p0_heap_released_bytes":
		return "heap released to the OS"
	case "p0_heap_bytes":
		if len(c.series) == 4 {
			return "heap in use"
		}
	}
	switch {
	case strings.HasSuffix(column, "_max_records") || strings.HasSuffix(column, "_max_s"):
		return "largest in each interval (polled every 1 s)"
	case column == "consumer_lag_records" || column == "watermark_lag_s":
		return "sampled every 10 s"
	case strings.HasPrefix(column, "p"):
		return "processor " + column[1:2]
	}
	return column
}
