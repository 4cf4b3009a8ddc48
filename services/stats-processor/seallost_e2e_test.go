package main_test

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/vehicle-stats/vehicle-stats/internal/contracttest"
	"github.com/vehicle-stats/vehicle-stats/internal/redisconn"
	"github.com/vehicle-stats/vehicle-stats/pkg/model"
	"github.com/vehicle-stats/vehicle-stats/services/stats-processor/internal/state"
)

// TestE2ERedisBackInTimeBeforeDecide: Redis goes back in time between a
// closing round's seal and its decision, and an idle partition counts a
// straggler meanwhile in a window the round sealed empty. The processor
// reaches Redis through a proxy (respProxy) that recognises the closing
// steps by their scripts: the test snapshots Redis before the seal of the
// round that closes the windows after the dataset (the all-idle round), and
// holds that round's decide until it has put Redis back to the snapshot and
// partition 0's worker has saved the straggler. The decide must then be
// refused (state.ErrSealLost: its sums are the lost seal's, which miss the
// straggler), and the window emitted with it by a later round: the output
// topic is exactly the dataset's with the straggler. Before the seal id
// (9d6bfad) the decide used the lost seal's sums and raised the decided
// bound over the straggler's window, which was then never emitted nor
// reported late. TestIntegrationSealLostBeforeDecide is the same
// interleaving against the store alone.
func TestE2ERedisBackInTimeBeforeDecide(t *testing.T) {
	s := newScenario(t, 2)
	if strings.Contains(s.env.RedisAddr, ",") {
		t.Skip("the proxy forwards to one Redis; this Redis is a Cluster")
	}
	ctx := context.Background()
	size := s.window.Milliseconds()
	data := contracttest.Dataset(31, 2, 800, base(), s.ooo)
	want, _, _ := contracttest.ExpectedRecords(data, s.window, s.ooo)
	var hi int64 // the end of the dataset's last window
	for k := range want {
		hi = max(hi, k.Start+size)
	}
	for _, c := range contracttest.Interleave(data, 400) {
		s.produce(ctx, c)
	}
	rdb := redis.NewClient(&redis.Options{Addr: s.env.RedisAddr})
	t.Cleanup(func() { rdb.Close() })
	keys := state.NewKeys(s.cfg.KeyPrefix, s.cfg.Input)

	// The proxy shows the test the seals of partition 0 and the decides of
	// rounds that close past the dataset, until the test has held one.
	calls := make(chan closingCall)
	var passing atomic.Bool
	proxy := startRESPProxy(t, s.env.RedisAddr, func(args []string) <-chan struct{} {
		step, key, through := closingStep(args)
		if passing.Load() || step == "" || through <= hi || (step == "seal" && key != keys.Partition(0)) {
			return nil
		}
		c := closingCall{step: step, through: through, resume: make(chan struct{})}
		select {
		case calls <- c:
			return c.resume
		case <-t.Context().Done():
			return nil
		}
	})
	s.cfg.RedisAddr = proxy.addr
	p := s.start("seallost")

	var snap map[string]dumped
	var sealedAt time.Time
	var held closingCall
	timeout := time.After(90 * time.Second)
	for held.resume == nil {
		select {
		case c := <-calls:
			if c.step == "decide" {
				held = c
				continue
			}
			// A round that ends before its decision (a partition not
			// ready after all) seals again in the next one: the last
			// snapshot is the deciding round's.
			snap, sealedAt = snapshot(t, rdb, s.cfg.KeyPrefix), time.Now()
			close(c.resume)
		case <-timeout:
			t.Fatalf("within 90 s no closing round decided the windows after the dataset (through %s)", model.TimeFromMillis(hi))
		}
	}
	heldAt := time.Now()
	// The decide must get its reply within the processor's Redis read
	// timeout, and its round's 4 s (the closer lease's 5 s less a fifth).
	budget := heldAt.Add(redisconn.ReadTimeout - 500*time.Millisecond)
	if b := sealedAt.Add(3500 * time.Millisecond); b.Before(budget) {
		budget = b
	}
	t.Logf("holding the decide of the round that sealed through %s", model.TimeFromMillis(held.through))

	// Partition 0's worker may have seen the seal (its idle saves return
	// the raised bound): after the rollback it would call the straggler
	// late.
	// A record saved before the rollback (a bad one: it counts nothing)
	// makes its next save refused after it, so that it reloads and replays
	// from Redis as Redis is then.
	p0 := keys.Partition(0)
	x := hashInt(t, rdb, p0, "offset")
	s.produce(ctx, []contracttest.Record{notAnEvent(0, "NOT-AN-EVENT-1")})
	waitHash(t, rdb, p0, budget, "partition 0 saved a record after the seal", func(h map[string]string) bool {
		return h["offset"] == itoa(int(x+1))
	})
	restore(t, rdb, s.cfg.KeyPrefix, snap)
	bound := max(hi, hashInt(t, rdb, p0, "closed"), hashInt(t, rdb, keys.Meta(), "closed"), hashInt(t, rdb, keys.Meta(), "decided"))
	if bound+size > held.through {
		t.Fatalf("Redis as snapshotted has partition 0 closed through %s already, the held round seals through %s: no window left in between",
			model.TimeFromMillis(bound), model.TimeFromMillis(held.through))
	}
	t.Logf("Redis went back to before the seal; the straggler's window starts at %s", model.TimeFromMillis(bound))
	s.produce(ctx, []contracttest.Record{notAnEvent(0, "NOT-AN-EVENT-2")})
	waitHash(t, rdb, p0, budget, "partition 0's worker, its save refused after the rollback, reloaded and replayed", func(h map[string]string) bool {
		return h["offset"] == itoa(int(x+2))
	})
	straggler := contracttest.NewRecord(0, "STRAGGLER", 0, bound+size/2, model.VehicleTypes()[1], contracttest.EpochMillis)
	s.produce(ctx, []contracttest.Record{straggler})
	waitHash(t, rdb, p0, budget, "partition 0 saved the straggler's count", func(h map[string]string) bool {
		return h["offset"] == itoa(int(x+3)) && h["w:"+strconv.FormatInt(bound, 10)] != ""
	})
	t.Logf("released the decide after %s (the round's seal %s ago)", time.Since(heldAt).Round(time.Millisecond), time.Since(sealedAt).Round(time.Millisecond))
	passing.Store(true)
	close(held.resume)

	data[0] = append(data[0], notAnEvent(0, "NOT-AN-EVENT-1"), notAnEvent(0, "NOT-AN-EVENT-2"), straggler)
	want, _, _ = contracttest.ExpectedRecords(data, s.window, s.ooo)
	deadline := time.Now().Add(60 * time.Second)
	for hashInt(t, rdb, keys.Meta(), "closed") < bound+size {
		if time.Now().After(deadline) {
			t.Fatalf("the processor did not close the straggler's window (%s) within 60 s", model.TimeFromMillis(bound))
		}
		time.Sleep(200 * time.Millisecond)
	}
	s.checkOutput(readAll(t, s.env.Brokers, s.cfg.Output), want)
	if !strings.Contains(p.Tail(5000), "Redis lost this round's seal") {
		t.Error("the processor did not log the held decide refused (Redis lost this round's seal)")
	}
	stop(t, p)
}

// closingCall is a closing step's script on its way to Redis, held until
// resume is closed.
type closingCall struct {
	step    string
	through int64
	resume  chan struct{}
}

// closingStep recognises a seal or decide script call by the script's
// SHA1 (go-redis sends a pipelined seal as EVAL with its source, a decide
// as EVALSHA, as EVAL after NOSCRIPT) and returns the step, its first key
// and the bound it closes through; "" for any other command.
func closingStep(args []string) (step, key string, through int64) {
	if len(args) < 4 {
		return "", "", 0
	}
	var sha string
	switch strings.ToUpper(args[0]) {
	case "EVAL":
		sum := sha1.Sum([]byte(args[1]))
		sha = hex.EncodeToString(sum[:])
	case "EVALSHA":
		sha = strings.ToLower(args[1])
	default:
		return "", "", 0
	}
	n, err := strconv.Atoi(args[2])
	if err != nil || n < 1 || len(args) < 3+n {
		return "", "", 0
	}
	argv := args[3+n:]
	at := map[string]int{"seal": 1, "decide": 2} // ARGV[2] and ARGV[3]
	for name, i := range at {
		if sha == state.ScriptHash(name) && i < len(argv) {
			through, err := strconv.ParseInt(argv[i], 10, 64)
			if err == nil {
				return name, args[3], through
			}
		}
	}
	return "", "", 0
}

// notAnEvent is a record for the dead-letter topic on partition p.
func notAnEvent(p int, key string) contracttest.Record {
	return contracttest.Record{Partition: p, Key: key, Value: []byte("not json at all"), Bad: true}
}

// hashInt reads an integer field of a hash; a missing one is
// state.NoWatermark (a bound not set).
func hashInt(t *testing.T, rdb *redis.Client, key, field string) int64 {
	t.Helper()
	n, err := rdb.HGet(context.Background(), key, field).Int64()
	if err == redis.Nil {
		return state.NoWatermark
	}
	if err != nil {
		t.Fatalf("read %s %s: %v", key, field, err)
	}
	return n
}

// waitHash waits until the hash key satisfies ok, failing the test at
// deadline with what it waited for.
func waitHash(t *testing.T, rdb *redis.Client, key string, deadline time.Time, what string, ok func(map[string]string) bool) {
	t.Helper()
	for {
		h, err := rdb.HGetAll(context.Background(), key).Result()
		if err != nil {
			t.Fatal(err)
		}
		if ok(h) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited in vain for: %s (the held decide must be released before the processor gives it up); %s holds offset %s",
				what, key, h["offset"])
		}
		time.Sleep(10 * time.Millisecond)
	}
}
