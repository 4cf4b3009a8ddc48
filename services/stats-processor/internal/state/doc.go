// Package state keeps stats-processor's state in Redis: for each input
// partition its next offset, largest event time, idle lease, closed bound and
// per-window partial counts, all in one hash saved in one atomic step; and
// for the pipeline the closed windows' totals and the watermark.
//
// Layout (P = redis.key_prefix, T = input topic; {…} is the Redis Cluster hash
// tag, so each partition's hash and the pipeline's keys live in one slot each):
//
//	P:{T.n}            hash  partition n: offset, max, idle, closed, owner, w:<start> = "c0,c1,c2,c3,c4"
//	P:{T}:meta         hash  closed (bound of the closed windows), watermark, partitions
//	P:{T}:closed       zset  start of every closed window still retained
//	P:{T}:win:<start>  hash  a closed window's counts by type name; expires after the retention
//	P:{T}:closer       string  lease of the instance that closes windows
//
// Save (store.go) is fenced: it applies only if the stored offset is the one
// the caller last saw, and only if none of the windows it writes is already
// closed; it returns a *FencedError otherwise, and the caller must reload and
// replay. A missing partition hash loads as a partition with no saved state.
// CloseThrough (close.go) is the closing protocol in one place: seal the
// partitions, emit the summed windows through the caller, mark them closed,
// drop the partials; an emit that fails leaves them sealed, and the next
// call emits the same windows again. The Config (state.retention) and the
// RedisConfig (redis.*) are the service's state and redis sections. All
// methods are safe for concurrent use; every write is idempotent: repeating
// one with the same arguments leaves the same state.
package state
