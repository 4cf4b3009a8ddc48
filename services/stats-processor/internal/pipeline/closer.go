package pipeline

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/vehicle-stats/vehicle-stats/pkg/model"
	"github.com/vehicle-stats/vehicle-stats/pkg/serde"
	"github.com/vehicle-stats/vehicle-stats/services/stats-processor/internal/eventtime"
	"github.com/vehicle-stats/vehicle-stats/services/stats-processor/internal/metrics"
	"github.com/vehicle-stats/vehicle-stats/services/stats-processor/internal/state"
)

// runCloser computes the pipeline watermark every CloseInterval and, while
// this instance holds the closer lease, closes the windows it passed.
func (p *Processor) runCloser(ctx context.Context) {
	t := time.NewTicker(p.cfg.CloseInterval)
	defer t.Stop()
	lastRefresh := time.Now()
	leading := false
	defer func() {
		if leading {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			_ = p.store.ReleaseLead(ctx, p.cfg.InstanceID)
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-p.closeNow:
		}
		if time.Since(lastRefresh) > 10*time.Second || p.Partitions() == 0 {
			if err := p.refreshPartitions(ctx); err != nil {
				p.metrics.CountErrors(metrics.Failed(metrics.Kafka, err))
				p.log.Debug("refresh partition count", "error", err)
			}
			lastRefresh = time.Now()
		}
		lead, err := p.store.TryLead(ctx, p.cfg.InstanceID, max(5*p.cfg.CloseInterval, 5*time.Second))
		if err != nil {
			p.metrics.CountErrors(metrics.Failed(metrics.Redis, err))
			continue
		}
		if lead != leading {
			p.log.Info("closer lease", "held", lead)
			leading = lead
		}
		if lead {
			p.metrics.LastCloseLeader.Set(1)
		} else {
			p.metrics.LastCloseLeader.Set(0)
		}
		if err := p.closeRound(ctx, lead); err != nil {
			p.metrics.CountErrors(err)
			if ctx.Err() == nil {
				p.log.Warn("closing windows failed; retrying", "error", err)
			}
		}
	}
}

// closeRound computes the pipeline watermark from the saved partition states
// and, when leading, closes every window it passed: seal the partitions'
// partial counts, sum them, write the records and wait for the acks, mark
// the windows closed, drop the partials. A crash anywhere in between is
// repaired by the next round, which finds the same sealed partials and
// writes the same bytes again.
func (p *Processor) closeRound(ctx context.Context, lead bool) error {
	n := p.Partitions()
	if n == 0 {
		return nil
	}
	sts, err := p.store.Statuses(ctx, n)
	if err != nil {
		return metrics.Failed(metrics.Redis, err)
	}
	now := p.now()
	parts := make([]eventtime.PartitionStatus, n)
	for i, s := range sts {
		parts[i] = eventtime.PartitionStatus{
			Watermark: eventtime.WatermarkOf(s.MaxEventTime, p.cfg.EventTime.Watermark.MaxOutOfOrderness),
			Idle:      s.IdleUntil > now.UnixMilli(),
		}
	}
	wm := eventtime.PipelineWatermark(parts, now.UnixMilli(), p.cfg.EventTime)
	p.wmNow.Store(wm)
	if wm != eventtime.NoWatermark {
		p.metrics.Watermark.Set(float64(wm) / 1000)
		p.metrics.WatermarkLag.Set(float64(now.UnixMilli()-wm) / 1000)
	}
	if !lead {
		return nil
	}
	meta, err := p.store.ReadMeta(ctx)
	if err != nil {
		return metrics.Failed(metrics.Redis, err)
	}
	through := eventtime.ClosedThrough(wm, p.cfg.EventTime.Window.Size)
	if through == eventtime.NoWatermark || through <= meta.ClosedThrough {
		if wm != meta.Watermark && wm != eventtime.NoWatermark {
			return metrics.Failed(metrics.Redis, p.store.SetWatermark(ctx, wm, n))
		}
		return nil
	}
	sums, err := p.store.Seal(ctx, n, through)
	if err != nil {
		return metrics.Failed(metrics.Redis, err)
	}
	size := p.cfg.EventTime.Window.Size.Milliseconds()
	all := make([]int64, 0, len(sums))
	var closing []state.ClosedWindow
	for start, c := range sums {
		all = append(all, start)
		if start+size > meta.ClosedThrough && c.Total() > 0 {
			closing = append(closing, state.ClosedWindow{Start: start, Counts: c})
		}
	}
	slices.SortFunc(closing, func(a, b state.ClosedWindow) int { return cmp.Compare(a.Start, b.Start) })
	if msgs := StatisticsRecords(closing, size); len(msgs) > 0 {
		if err := p.output.WriteMessages(ctx, msgs...); err != nil {
			return metrics.Failed(metrics.Kafka, fmt.Errorf("write %d statistics records: %w", len(msgs), err))
		}
		p.metrics.RecordsWritten.Add(float64(len(msgs)))
	}
	if err := p.store.MarkClosed(ctx, closing, through, wm, n, p.cfg.Retention); err != nil {
		return metrics.Failed(metrics.Redis, err)
	}
	p.metrics.WindowsClosed.Add(float64(len(closing)))
	for _, w := range closing {
		p.log.Info("window closed", "start", model.TimeFromMillis(w.Start), "total", w.Counts.Total(), "watermark", wm)
	}
	return metrics.Failed(metrics.Redis, p.store.DropClosed(ctx, n, all))
}

// StatisticsRecords are the output records of closed windows: one per window
// and vehicle type with a non-zero count, keyed "<TYPE>:<start ms>", with
// the record timestamp end - 1 ms.
func StatisticsRecords(windows []state.ClosedWindow, size int64) []kafka.Message {
	var msgs []kafka.Message
	for _, w := range windows {
		start, end := model.TimeFromMillis(w.Start), model.TimeFromMillis(w.Start+size)
		for _, t := range model.VehicleTypes() {
			n := w.Counts[t.Index()]
			if n == 0 {
				continue
			}
			key := fmt.Appendf(nil, "%s:%d", t, w.Start)
			msgs = append(msgs, kafka.Message{
				Key:   key,
				Value: serde.AppendStatistics(nil, model.VehicleStatistics{Start: start, End: end, VehicleType: t, Count: n}),
				Time:  model.TimeFromMillis(w.Start + size - 1),
			})
		}
	}
	return msgs
}
