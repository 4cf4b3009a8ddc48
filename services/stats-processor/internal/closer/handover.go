package closer

import (
	"context"
	"time"
)

// A graceful stop of the lease holder H hands the lease to another
// instance S without S waiting the grace (LeaseTTL + WriteBound) that a
// new holder waits before it reads the output back: S's grace runs while
// H still closes windows.
//
//  1. Every instance refused the lease records itself as a candidate.
//  2. H designates the last recent candidate S as its successor (the
//     designation's id is Redis's clock then).
//  3. S's next refused TryLead sees the designation; S notes when it first
//     observed it (ts, on its own clock) and marks it seen in Redis.
//  4. H goes on closing windows until it has seen that mark, then for the
//     grace (and an Interval) more.
//  5. H stops starting rounds; unless a write of its own may still land,
//     it transfers the lease to S with a new token and a record of the
//     designation it was handed under.
//  6. S's TryLead finds the lease its own, handed under a designation. S
//     reads the output back at once only if it observed that same
//     designation at least the grace ago; else it waits the grace as any
//     new holder.
//
// Why S may skip the wait: H's own writes were acked (or waited out)
// before the transfer; the writes of holders before H landed before H's
// own grace ended, which was before the transfer; a holder Redis forgot
// (a rollback) wrote before the rollback, which was before the
// designation S observed at ts, so its writes landed by ts + grace. A
// rollback that loses the designation or the transfer makes S take the
// lease as after another (the full grace); H killed during the handover
// leaves its lease to expire, as before.

// candidateRecent is how recently an instance must have asked for the
// lease to be designated H's successor; and how long H waits for it to
// see the designation before designating another.
const candidateRecent = 2 * time.Second

// designations is how many successors H tries before it releases the
// lease as at any stop.
const designations = 3

// observation is when (on Now) this instance first saw a designation of
// itself as successor, by designation id.
type observation struct {
	id int64
	at time.Time
}

// handing is the state of a handover by the holder.
type handing struct {
	token        int64     // the token the handover started with
	successor    string    // "" until designated
	id           int64     // the designation's id
	designatedAt time.Time // on Now
	seenAt       time.Time // when this instance saw the successor's mark (zero: not yet)
	tried        string    // the last successor that did not see its designation
	tries        int
}

// grace is what a new holder waits before it reads the output back.
func (c *Closer) grace() time.Duration { return c.opts.LeaseTTL + c.opts.WriteBound }

// observe notes the first sight of a designation of this instance as the
// lease holder's successor (id 0: none).
func (c *Closer) observe(id int64) {
	if id != 0 && id != c.designated.id {
		c.designated = observation{id: id, at: c.opts.Now()}
		c.log.Info("designated successor of the closer lease holder", "designation", id)
	}
}

// takeOver decides whether a lease handed to this instance under
// designation id may be used at once: only when this instance observed
// that designation the grace ago. It returns false to wait the grace.
func (c *Closer) takeOver(id int64) bool {
	if c.designated.id != id || c.opts.Now().Sub(c.designated.at) < c.grace() {
		c.log.Info("closer lease handed over, but not under a designation observed here long enough; waiting as after another holder", "designation", id)
		return false
	}
	c.notBefore = later(c.notBefore, c.designated.at.Add(c.grace()))
	c.log.Info("closer lease handed over; closing windows without a wait", "designation", id)
	return true
}

// HandOver asks Run to hand the lease to another instance and waits until
// Run returns (the lease handed over or released) or ctx ends. An
// instance that does not hold the lease returns within an Interval. The application
// calls it at a graceful stop, after the consumer left the group and
// before it cancels Run's context: the holder closes windows until its
// successor's grace has run (LeaseTTL + WriteBound + Interval after the
// successor saw its designation, ~12 s with the defaults).
func (c *Closer) HandOver(ctx context.Context) {
	select {
	case c.handOver <- struct{}{}:
	case <-c.stopped:
		return
	case <-ctx.Done():
		return
	}
	select {
	case <-c.stopped:
	case <-ctx.Done():
	}
}

// HandOverRound is one step of a handover: designate a successor, then a
// closing round (Round, with the woken partitions) until the successor's
// grace has run, then the transfer. It returns true when the handover is over: the lease handed
// over, or given up (no successor, a write that may still land, the lease
// lost). Run calls it in place of Round after HandOver; tests call it as
// their scheduler's step.
func (c *Closer) HandOverRound(ctx context.Context, woken ...int) bool {
	h := &c.handing
	if c.token == 0 {
		return true
	}
	if h.successor == "" {
		if h.tries >= designations {
			return c.giveUp("no successor saw its designation")
		}
		h.tries++
		successor, id, err := c.store.Designate(ctx, c.token, c.opts.InstanceID, candidateRecent, h.tried)
		if err != nil || successor == "" {
			return c.giveUp("no other instance asked for it lately")
		}
		*h = handing{token: c.token, successor: successor, id: id, designatedAt: c.opts.Now(), tried: h.tried, tries: h.tries}
		c.log.Info("handing the closer lease over: windows keep closing here until the successor has waited its grace",
			"successor", successor, "designation", id, "until", time.Now().Add(c.grace()+c.opts.Interval+c.opts.Interval).Round(time.Second))
		return false
	}
	if h.seenAt.IsZero() || c.opts.Now().Sub(h.seenAt) < c.grace()+c.opts.Interval {
		c.Round(ctx, woken...)
		if c.token != h.token {
			return c.giveUp("the lease changed hands during the handover")
		}
		if h.seenAt.IsZero() && c.lease.SuccessorSeen != 0 {
			h.seenAt = c.opts.Now()
		}
		if h.seenAt.IsZero() && c.opts.Now().Sub(h.designatedAt) > candidateRecent {
			c.log.Info("the designated successor did not see its designation; designating another", "successor", h.successor)
			h.tried, h.successor = h.successor, ""
		}
		return false
	}
	if c.opts.Now().Before(c.notBefore) {
		// A write of ours failed (or a predecessor's) and may land until
		// then; waiting would delay the stop, and the next holder waits
		// anyway.
		return c.giveUp("a write of this instance may still land")
	}
	c.pause(ctx, "transfer")
	tok, err := c.store.Transfer(ctx, c.token, c.opts.InstanceID, h.successor, h.id, c.opts.LeaseTTL)
	if err != nil || tok == 0 {
		return c.giveUp("the transfer was refused (the lease or the designation is gone)")
	}
	c.log.Info("closer lease handed over", "successor", h.successor, "token", tok)
	c.token, c.known = 0, nil
	return true
}

// giveUp ends a handover by releasing the lease: whoever takes it next
// waits the full grace.
func (c *Closer) giveUp(why string) bool {
	c.log.Info("releasing the closer lease instead of handing it over; the next holder waits "+c.grace().String()+" before closing", "reason", why)
	c.Release()
	return true
}
