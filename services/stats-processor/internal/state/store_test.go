package state_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/vehicle-stats/vehicle-stats/internal/testenv"
	"github.com/vehicle-stats/vehicle-stats/internal/testenv/private"
	"github.com/vehicle-stats/vehicle-stats/pkg/model"
	"github.com/vehicle-stats/vehicle-stats/services/stats-processor/internal/eventtime"
	"github.com/vehicle-stats/vehicle-stats/services/stats-processor/internal/state"
)

const size = 20 * time.Second

// backends runs a test against every Redis the store supports: a single
// server and a three-master Redis Cluster (started for the test), both real.
func backends(t *testing.T, test func(t *testing.T, s *state.RedisStore)) {
	backendsWith(t, time.Hour, test)
}

// backendsWith is backends with closed windows retained for retention.
func backendsWith(t *testing.T, retention time.Duration, test func(t *testing.T, s *state.RedisStore)) {
	backendsClient(t, retention, func(t *testing.T, s *state.RedisStore, _ redis.UniversalClient) { test(t, s) })
}

// backendsClient is backendsWith for tests that also need the client,
// to take Redis back in time (dumpKeys, restoreKeys).
func backendsClient(t *testing.T, retention time.Duration, test func(t *testing.T, s *state.RedisStore, rdb redis.UniversalClient)) {
	env := testenv.Get(t)
	t.Run("single", func(t *testing.T) {
		rdb, prefix := env.Redis(t)
		test(t, state.NewRedisStore(rdb, state.NewKeys(prefix, "vehicles"), size, retention), rdb)
	})
	t.Run("cluster", func(t *testing.T) {
		rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: private.StartRedisCluster(t, 0).Addrs})
		t.Cleanup(func() { rdb.Close() })
		test(t, state.NewRedisStore(rdb, state.NewKeys("vs", "vehicles"), size, retention), rdb)
	})
}

func counts(v ...int64) eventtime.Counts {
	var c eventtime.Counts
	copy(c[:], v)
	return c
}

// decided formats closed windows as their starts, counts, the partition
// counts their decisions covered and their uncounted events.
func decided(ws []state.ClosedWindow) string {
	var b strings.Builder
	for _, w := range ws {
		fmt.Fprintf(&b, "%d:%v/%d/%v ", w.Start, w.Counts, w.Partitions, w.Uncounted)
	}
	return b.String()
}

// over is the Partitions of a decision of every type over n partitions.
func over(n int) (p [model.NumVehicleTypes]int) {
	for t := range p {
		p[t] = n
	}
	return p
}

// register loads partitions as a worker does before it saves: Save
// refuses a partition Load did not register.
func register(t *testing.T, s *state.RedisStore, partitions ...int) {
	t.Helper()
	for _, p := range partitions {
		if _, err := s.Load(context.Background(), p); err != nil {
			t.Fatal(err)
		}
	}
}

func TestIntegrationSaveLoadFence(t *testing.T) { backends(t, testSaveLoadFence) }

func testSaveLoadFence(t *testing.T, s *state.RedisStore) {
	ctx := context.Background()

	st, err := s.Load(ctx, 3)
	if err != nil || st.Saved || st.MaxEventTime != state.NoWatermark || len(st.Windows) != 0 {
		t.Fatalf("fresh load: %+v, %v", st, err)
	}
	cp := state.Checkpoint{Partition: 3, ExpectedOffset: -1, Offset: 10, MaxEventTime: 25_000, Owner: "a",
		Windows: map[int64]eventtime.Counts{0: counts(3, 1), 20_000: counts(1)}}
	if _, err := s.Save(ctx, cp); err != nil {
		t.Fatal(err)
	}
	// Repeating the first save is fenced: the offset moved on.
	if _, err := s.Save(ctx, cp); !errors.Is(err, state.ErrFenced) {
		t.Fatalf("repeated save: %v", err)
	}
	st, err = s.Load(ctx, 3)
	if err != nil || !st.Saved || st.Offset != 10 || st.MaxEventTime != 25_000 || st.Windows[0] != counts(3, 1) || st.Windows[20_000] != counts(1) {
		t.Fatalf("load after save: %+v, %v", st, err)
	}
	// A stale instance that expects an older offset is fenced.
	_, err = s.Save(ctx, state.Checkpoint{Partition: 3, ExpectedOffset: 5, Offset: 12})
	var fe *state.FencedError
	if !errors.As(err, &fe) || fe.StoredOffset != 10 {
		t.Fatalf("stale save: %v", err)
	}
	// Close window 0 with an emit that fails: the window is sealed but not
	// marked closed. A save that writes it is then fenced, one that does not
	// applies.
	errEmit := errors.New("kafka down")
	var emitted []state.ClosedWindow
	for p := range 3 { // the other partitions are idle: they let the window close
		register(t, s, p)
		if _, err := s.Save(ctx, state.Checkpoint{Partition: p, ExpectedOffset: -1, Offset: 0, IdleFor: time.Minute}); err != nil {
			t.Fatal(err)
		}
	}
	tok := lead(t, s, "a")
	_, err = closeWith(ctx, s, tok, 4, 20_000, 24_999, func(ws []state.ClosedWindow) ([]int64, error) {
		emitted = ws
		return nil, errEmit
	})
	if !errors.Is(err, errEmit) || len(emitted) != 1 || emitted[0].Start != 0 || emitted[0].Counts != counts(3, 1) || emitted[0].Partitions != over(4) {
		t.Fatalf("close with a failing emit: %v, %v", emitted, err)
	}
	if meta, err := s.ReadMeta(ctx); err != nil || meta.ClosedThrough != state.NoWatermark {
		t.Fatalf("meta after a failed emit: %+v, %v", meta, err)
	}
	_, err = s.Save(ctx, state.Checkpoint{Partition: 3, ExpectedOffset: 10, Offset: 11, MaxEventTime: 25_000,
		Windows: map[int64]eventtime.Counts{0: counts(4, 1)}})
	if !errors.As(err, &fe) || fe.ClosedThrough != 20_000 {
		t.Fatalf("save into a sealed window: %v", err)
	}
	closed, err := s.Save(ctx, state.Checkpoint{Partition: 3, ExpectedOffset: 10, Offset: 11, MaxEventTime: 26_000,
		Windows: map[int64]eventtime.Counts{20_000: counts(2)}})
	if err != nil || closed != 20_000 {
		t.Fatalf("save after seal: %d, %v", closed, err)
	}
	st, _ = s.Load(ctx, 3)
	if _, ok := st.Windows[0]; ok || st.ClosedThrough != 20_000 || st.Windows[20_000] != counts(2) {
		t.Fatalf("load after seal: %+v", st)
	}
}

func TestIntegrationCloseAndRead(t *testing.T) { backends(t, testCloseAndRead) }

func testCloseAndRead(t *testing.T, s *state.RedisStore) {
	ctx := context.Background()
	for p := range 2 {
		register(t, s, p)
		_, err := s.Save(ctx, state.Checkpoint{Partition: p, ExpectedOffset: -1, Offset: 5, MaxEventTime: 45_000,
			IdleFor: time.Duration(p) * time.Minute, Windows: map[int64]eventtime.Counts{0: counts(1, 2), 20_000: counts(5), 40_000: counts(0, 0, 1)}})
		if err != nil {
			t.Fatal(err)
		}
	}
	sts, _, err := s.Statuses(ctx, 3)
	if err != nil || len(sts) != 3 || !sts[0].Saved || sts[0].Idle || !sts[1].Idle || sts[2].Saved || sts[2].MaxEventTime != state.NoWatermark {
		t.Fatalf("statuses %+v, %v", sts, err)
	}
	// Partition 2 has read nothing and is idle: it lets the windows close.
	register(t, s, 2)
	if _, err := s.Save(ctx, state.Checkpoint{Partition: 2, ExpectedOffset: -1, Offset: 0, IdleFor: time.Minute}); err != nil {
		t.Fatal(err)
	}
	// The closer crashes after emitting (a failed mark looks the same to
	// the next round): the repeat emits the same windows, summed over the
	// partitions, oldest first, and then marks them closed.
	want := []state.ClosedWindow{{Start: 0, Counts: counts(2, 4), Partitions: over(3)}, {Start: 20_000, Counts: counts(10), Partitions: over(3)}}
	tok := lead(t, s, "a")
	for round := range 2 {
		var emitted []state.ClosedWindow
		closed, err := closeWith(ctx, s, tok, 3, 40_000, 44_999, func(ws []state.ClosedWindow) ([]int64, error) {
			emitted = ws
			if round == 0 {
				return nil, errors.New("crash")
			}
			return []int64{7}, nil
		})
		if decided(emitted) != decided(want) || (round == 1 && (err != nil || decided(closed) != decided(want))) {
			t.Fatalf("round %d: emitted %v, closed %v, %v", round, emitted, closed, err)
		}
	}
	// Nothing is left to close: the partials are gone.
	closed, err := closeWith(ctx, s, tok, 3, 40_000, 44_999, func([]state.ClosedWindow) ([]int64, error) { return nil, nil })
	if err != nil || len(closed) != 0 {
		t.Fatalf("a second close: %v, %v", closed, err)
	}
	meta, err := s.ReadMeta(ctx)
	if err != nil || meta.ClosedThrough != 40_000 || meta.Watermark != 44_999 || meta.Partitions != 3 || fmt.Sprint(meta.Output) != "[7]" {
		t.Fatalf("meta %+v, %v", meta, err)
	}
	// What an instance without the lease reads: the same meta, and Redis's
	// clock (this machine's, give or take).
	followed, now, err := s.ReadMetaAndClock(ctx)
	if err != nil || fmt.Sprint(followed) != fmt.Sprint(meta) || time.Since(time.UnixMilli(now)).Abs() > time.Minute {
		t.Fatalf("meta and clock: %+v at %d, %v; want %+v near %d", followed, now, err, meta, time.Now().UnixMilli())
	}
	ws, err := s.ClosedWindows(ctx, -1<<50, 1<<50, 10)
	if err != nil || len(ws) != 2 || ws[0].Start != 20_000 || ws[0].Counts != counts(10) || ws[1].Counts != counts(2, 4) {
		t.Fatalf("closed windows %+v, %v", ws, err)
	}
	if ws, _ := s.ClosedWindows(ctx, 0, 20_000, 10); len(ws) != 1 || ws[0].Start != 0 {
		t.Fatalf("closed windows in [0,20000): %+v", ws)
	}
	open, err := s.OpenWindows(ctx, 3, 40_000)
	if err != nil || len(open) != 1 || open[0].Start != 40_000 || open[0].Counts != counts(0, 0, 2) {
		t.Fatalf("open windows %+v, %v", open, err)
	}
}

func TestIntegrationLead(t *testing.T) { backends(t, testLead) }

func testLead(t *testing.T, s *state.RedisStore) {
	ctx := context.Background()
	a, err := lead1(ctx, s, "a")
	if a == 0 || err != nil {
		t.Fatalf("a: %v %v", a, err)
	}
	if b, _ := lead1(ctx, s, "b"); b != 0 {
		t.Fatal("b took a held lease")
	}
	if again, _ := lead1(ctx, s, "a"); again != a {
		t.Fatalf("a renewed with token %d, want %d", again, a)
	}
	if err := s.ReleaseLead(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	if again, _ := lead1(ctx, s, "a"); again != a {
		t.Fatal("b released a's lease")
	}
	if err := s.ReleaseLead(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	b, _ := lead1(ctx, s, "b")
	if b <= a {
		t.Fatalf("b took a released lease with token %d, want more than a's %d", b, a)
	}
	// Back to a: a new holder, a new token, larger again.
	_ = s.ReleaseLead(ctx, "b")
	if a2, _ := lead1(ctx, s, "a"); a2 <= b {
		t.Fatalf("a's second token %d is not above b's %d", a2, b)
	}
}

// lead1 takes or renews the lease for a second and returns the token.
func lead1(ctx context.Context, s *state.RedisStore, owner string) (int64, error) {
	l, err := s.TryLead(ctx, owner, time.Second, 0)
	return l.Token, err
}

// TestIntegrationRefusedTokenNotRenewed is issue #21's case 8: a
// partition's fence is above the holder's token (a failover to a replica
// whose clock is behind, with the lease and meta.lease lost; here the
// fence a holder on a primary an hour ahead left). The round is refused
// with that fence, and the closer then asks for a token above it
// (closer.go: floor = Fence + 1, the lease released): it gets a new one,
// never the refused token again, and that one closes.
func TestIntegrationRefusedTokenNotRenewed(t *testing.T) {
	env := testenv.Get(t)
	rdb, prefix := env.Redis(t)
	s := state.NewRedisStore(rdb, state.NewKeys(prefix, "vehicles"), size, time.Hour)
	ctx := context.Background()
	savePartials(t, s, 1)
	a := lead(t, s, "a")
	fence := time.Now().Add(time.Hour).UnixMilli()
	if err := rdb.HSet(ctx, s.Keys().Partition(0), "fence", fence).Err(); err != nil {
		t.Fatal(err)
	}
	_, err := closeWith(ctx, s, a, 1, 20_000, 24_999, func(ws []state.ClosedWindow) ([]int64, error) {
		t.Fatalf("emitted %s with a token below a fence", decided(ws))
		return nil, nil
	})
	var lost *state.LeaseLostError
	if !errors.As(err, &lost) || lost.Fence != fence {
		t.Fatalf("round with token %d below fence %d: %v, want a LeaseLostError with the fence", a, fence, err)
	}
	l, err := s.TryLead(ctx, "a", time.Minute, lost.Fence+1)
	tok := l.Token
	if err != nil || tok == a || tok <= fence {
		t.Fatalf("after the refusal: token %d (%v); want a new one above the fence %d, not the refused %d", tok, err, fence, a)
	}
	owners[tok] = "a"
	if _, err := closeWith(ctx, s, tok, 1, 20_000, 24_999, func([]state.ClosedWindow) ([]int64, error) { return nil, nil }); err != nil {
		t.Fatalf("close with the new token: %v", err)
	}
}

// TestIntegrationRollbackAfterAnotherClose is issue #21's case 4: A holds
// the lease and pauses before its round; B closes window 0 (CAR:0=5, on
// the topic); Redis then goes back to before B's round (B's seal,
// decision, mark, drop and fences lost: an AOF everysec loss, a failover
// to a lagging replica); a straggler of window 0 is counted on the idle
// partition 1; A resumes (its paused round ends at its deadline; the next
// one renews the restored lease, same token). A reads the output back
// after its seal and before deciding, so it emits B's value, not a second
// one, and reports the straggler late.
func TestIntegrationRollbackAfterAnotherClose(t *testing.T) {
	env := testenv.Get(t)
	rdb, prefix := env.Redis(t)
	s := state.NewRedisStore(rdb, state.NewKeys(prefix, "vehicles"), size, time.Hour)
	ctx := context.Background()
	if _, err := s.RecordPartitions(ctx, 2); err != nil {
		t.Fatal(err)
	}
	register(t, s, 0, 1)
	if _, err := s.Save(ctx, state.Checkpoint{Partition: 0, ExpectedOffset: -1, Offset: 5, MaxEventTime: 45_000,
		Windows: map[int64]eventtime.Counts{0: counts(5)}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Save(ctx, state.Checkpoint{Partition: 1, ExpectedOffset: -1, Offset: 2, MaxEventTime: 1_000, IdleFor: time.Hour}); err != nil {
		t.Fatal(err)
	}
	a := lead(t, s, "a")
	before := dumpKeys(t, s, rdb) // A is paused here
	if err := s.ReleaseLead(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	var onTopic []state.OutputRecord
	if _, err := closeWith(ctx, s, lead(t, s, "b"), 2, 40_000, 44_999, func(ws []state.ClosedWindow) ([]int64, error) {
		for _, w := range ws {
			onTopic = append(onTopic, state.OutputRecord{Start: w.Start, Type: 0, Count: w.Counts[0], Partitions: w.Partitions[0]})
		}
		return []int64{int64(len(onTopic))}, nil
	}); err != nil {
		t.Fatalf("B's round: %v", err)
	}
	if len(onTopic) != 1 || onTopic[0].Count != 5 {
		t.Fatalf("B wrote %+v, want CAR:0=5", onTopic)
	}
	restoreKeys(t, s, rdb, before)
	if _, err := s.Save(ctx, state.Checkpoint{Partition: 1, ExpectedOffset: 2, Offset: 3, MaxEventTime: 6_000, IdleFor: time.Hour,
		Windows: map[int64]eventtime.Counts{0: counts(1)}}); err != nil {
		t.Fatalf("the straggler's save after the rollback: %v", err)
	}
	fromA, err := closeReading(ctx, s, a, 2, 40_000, 44_999, onTopic, []int64{1}, func([]state.ClosedWindow) ([]int64, error) { return []int64{1}, nil })
	if err != nil || len(fromA) != 1 || fromA[0].Counts[0] != 5 {
		t.Fatalf("A after the rollback emitted %s (%v); B wrote CAR:0=5: a key with two values", decided(fromA), err)
	}
	// The straggler, counted by partition 1 after the rollback, is not in
	// B's CAR:0: it is reported late (I2), or it would be lost.
	if fromA[0].Uncounted != counts(1) {
		t.Errorf("A reports %v of window 0 uncounted, want the straggler (CAR 1): it is neither in CAR:0=5 nor reported late", fromA[0].Uncounted)
	}
}

// dumpedKey is one key's DUMP and time to live (0: none).
type dumpedKey struct {
	val string
	ttl time.Duration
}

// dumpKeys is every key of the pipeline: Redis at one moment, to go back
// to.
func dumpKeys(t *testing.T, s *state.RedisStore, rdb redis.UniversalClient) map[string]dumpedKey {
	t.Helper()
	ctx := context.Background()
	keys, err := s.PipelineKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]dumpedKey{}
	for _, k := range keys {
		v, err := rdb.Dump(ctx, k).Result()
		if err != nil {
			t.Fatal(err)
		}
		out[k] = dumpedKey{val: v, ttl: max(rdb.PTTL(ctx, k).Val(), 0)}
	}
	return out
}

// restoreKeys puts the pipeline's keys back to a dumpKeys.
func restoreKeys(t *testing.T, s *state.RedisStore, rdb redis.UniversalClient, keys map[string]dumpedKey) {
	t.Helper()
	ctx := context.Background()
	now, err := s.PipelineKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.DeleteKeys(ctx, now); err != nil {
		t.Fatal(err)
	}
	for k, d := range keys {
		if err := rdb.RestoreReplace(ctx, k, d.ttl, d.val).Err(); err != nil {
			t.Fatal(err)
		}
	}
}
