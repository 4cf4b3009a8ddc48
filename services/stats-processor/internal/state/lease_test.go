package state_test

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/vehicle-stats/vehicle-stats/services/stats-processor/internal/state"
)

func TestIntegrationHandOver(t *testing.T) { backendsClient(t, time.Hour, testHandOver) }

// A graceful handover, step by step: a refused owner is a candidate; only
// the holder designates, and only a recent candidate; the successor marks
// its designation seen once; only the holder transfers, only to the
// designated successor, with a larger token that the successor's TryLead
// reports as handed under that designation.
func testHandOver(t *testing.T, s *state.RedisStore, _ redis.UniversalClient) {
	ctx := context.Background()
	a := lead(t, s, "a")
	if got, id := designate(t, s, a, "a", time.Minute, ""); got != "" {
		t.Fatalf("a designated %q (%d) before anyone asked for the lease", got, id)
	}
	b := tryLead(t, s, "b")
	if b.Token != 0 || b.Designated != 0 {
		t.Fatalf("b asking for a held lease: %+v", b)
	}
	if got, _ := designate(t, s, a, "b", time.Minute, ""); got != "" {
		t.Fatalf("b designated %q without holding the lease", got)
	}
	if got, _ := designate(t, s, a+1, "a", time.Minute, ""); got != "" {
		t.Fatalf("a designated %q with a token it does not hold", got)
	}
	if got, _ := designate(t, s, a, "a", time.Minute, "b"); got != "" {
		t.Fatalf("a designated %q, the owner it excluded", got)
	}
	time.Sleep(5 * time.Millisecond)
	if got, _ := designate(t, s, a, "a", time.Millisecond, ""); got != "" {
		t.Fatalf("a designated %q, a candidate that asked more than 1 ms ago", got)
	}
	succ, id := designate(t, s, a, "a", time.Minute, "")
	if succ != "b" || id == 0 {
		t.Fatalf("a designated %q (%d), want b", succ, id)
	}
	if l := tryLead(t, s, "a"); l.Token != a || l.SuccessorSeen != 0 {
		t.Fatalf("a renewing before b saw its designation: %+v", l)
	}
	if b := tryLead(t, s, "b"); b.Token != 0 || b.Designated != id {
		t.Fatalf("b after its designation: %+v, want designated %d", b, id)
	}
	seen := tryLead(t, s, "a").SuccessorSeen
	if seen == 0 {
		t.Fatal("a does not see that b saw its designation")
	}
	time.Sleep(5 * time.Millisecond)
	tryLead(t, s, "b")
	if again := tryLead(t, s, "a").SuccessorSeen; again != seen {
		t.Fatalf("successor_seen moved from %d to %d: it is set once", seen, again)
	}
	// Only the holder, only to the designated successor of this designation.
	for _, tc := range []struct {
		tok         int64
		owner, succ string
		id          int64
		what        string
	}{
		{a, "b", "b", id, "by an owner that does not hold the lease"},
		{a, "a", "c", id, "to an owner not designated"},
		{a, "a", "b", id + 1, "under another designation"},
		{a + 1, "a", "b", id, "with a token not held"},
	} {
		if tok, err := s.Transfer(ctx, tc.tok, tc.owner, tc.succ, tc.id, time.Minute); tok != 0 || err != nil {
			t.Fatalf("transfer %s: %d %v, want refused", tc.what, tok, err)
		}
	}
	handed, err := s.Transfer(ctx, a, "a", "b", id, time.Minute)
	if err != nil || handed <= a {
		t.Fatalf("transfer a → b: token %d %v, want above a's %d", handed, err, a)
	}
	if l := tryLead(t, s, "b"); l.Token != handed || l.AfterAnother || l.Handed != id {
		t.Fatalf("b after the transfer: %+v, want token %d handed under %d", l, handed, id)
	}
	if l := tryLead(t, s, "a"); l.Token != 0 {
		t.Fatalf("a still holds the lease after handing it over: %+v", l)
	}
	if tok, _ := s.Transfer(ctx, a, "a", "b", id, time.Minute); tok != 0 {
		t.Fatal("a transferred a lease it handed over already")
	}
	// The next holder after b takes a plain new token: the handover is
	// not reported to it.
	_ = s.ReleaseLead(ctx, "b")
	if l := tryLead(t, s, "c"); l.Token <= handed || !l.AfterAnother || l.Handed != 0 {
		t.Fatalf("c after b: %+v, want a new token after another's", l)
	}
}

func TestIntegrationHandOverRolledBack(t *testing.T) {
	backendsClient(t, time.Hour, testHandOverRolledBack)
}

// Redis rolls back to before the transfer (a lost write): the lease is
// a's again, and when it expires b takes it as any new holder, after
// another's, not as handed over.
func testHandOverRolledBack(t *testing.T, s *state.RedisStore, rdb redis.UniversalClient) {
	ctx := context.Background()
	a := lead(t, s, "a")
	tryLead(t, s, "b")
	_, id := designate(t, s, a, "a", time.Minute, "")
	tryLead(t, s, "b")
	keys := []string{s.Keys().Meta(), s.Keys().Closer()}
	snap := map[string]string{}
	for _, k := range keys {
		v, err := rdb.Dump(ctx, k).Result()
		if err != nil {
			t.Fatal(err)
		}
		snap[k] = v
	}
	if tok, err := s.Transfer(ctx, a, "a", "b", id, time.Minute); tok == 0 || err != nil {
		t.Fatalf("transfer: %d %v", tok, err)
	}
	for _, k := range keys {
		if err := rdb.RestoreReplace(ctx, k, time.Minute, snap[k]).Err(); err != nil {
			t.Fatal(err)
		}
	}
	if l := tryLead(t, s, "b"); l.Token != 0 {
		t.Fatalf("b holds the lease whose transfer Redis lost: %+v", l)
	}
	if err := rdb.Del(ctx, s.Keys().Closer()).Err(); err != nil { // a's lease expires
		t.Fatal(err)
	}
	if l := tryLead(t, s, "b"); l.Token <= a || !l.AfterAnother || l.Handed != 0 {
		t.Fatalf("b after the lost transfer and a's lease expired: %+v, want a new token after another's", l)
	}
}

func tryLead(t *testing.T, s *state.RedisStore, owner string) state.Lead {
	t.Helper()
	l, err := s.TryLead(context.Background(), owner, time.Minute, 0)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func designate(t *testing.T, s *state.RedisStore, tok int64, owner string, recent time.Duration, not string) (string, int64) {
	t.Helper()
	succ, id, err := s.Designate(context.Background(), tok, owner, recent, not)
	if err != nil {
		t.Fatal(err)
	}
	return succ, id
}
