package state

import "strconv"

// Keys names the Redis keys of one pipeline: a key prefix and an input topic.
type Keys struct {
	prefix, topic string
}

// NewKeys returns the key names for prefix and topic.
func NewKeys(prefix, topic string) Keys { return Keys{prefix: prefix, topic: topic} }

// Partition is the hash of one input partition.
func (k Keys) Partition(p int) string {
	return k.prefix + ":{" + k.topic + "." + strconv.Itoa(p) + "}"
}

func (k Keys) global(name string) string { return k.prefix + ":{" + k.topic + "}:" + name }

// Meta is the pipeline's hash: closed bound, watermark, partition count.
func (k Keys) Meta() string { return k.global("meta") }

// Closed is the sorted set of closed windows' starts.
func (k Keys) Closed() string { return k.global("closed") }

// ClosedAt is the sorted set of closed windows' starts scored by when they
// were closed (Redis's clock, ms): retention is wall-clock time since then.
func (k Keys) ClosedAt() string { return k.global("closedat") }

// Wake is the pub/sub channel on which partitions wake the closer.
func (k Keys) Wake() string { return k.global("wake") }

// Window is the hash of one closed window's counts.
func (k Keys) Window(start int64) string { return k.global("win:" + strconv.FormatInt(start, 10)) }

// Closer is the lease of the instance that closes windows.
func (k Keys) Closer() string { return k.global("closer") }

// Decisions is the hash of decided windows not yet marked closed: start →
// counts. A window's decision is taken before any of its records is
// written, and every closer writes only a recorded decision.
func (k Keys) Decisions() string { return k.global("decided") }

// Pins is the hash of values read back from the output topic that Redis
// did not know of ("<start>:<type index>" → count): they are the decision
// of their key when its window is decided.
func (k Keys) Pins() string { return k.global("pins") }
