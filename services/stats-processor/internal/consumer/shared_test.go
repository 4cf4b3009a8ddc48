package consumer

import (
	"testing"
	"time"

	"github.com/segmentio/kafka-go/protocol"
)

// A want whose wait has passed is answered with nothing but the last
// high-water mark seen (so its partition can turn idle); the others go
// into the next request, starting one further each time.
func TestLeaderLoopDue(t *testing.T) {
	now := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	l := &leaderLoop{wants: map[int]*fetchWant{}}
	add := func(p int, until time.Duration, hw int64) *fetchWant {
		w := &fetchWant{partition: p, until: now.Add(until), hw: hw, reply: make(chan fetched, 1)}
		l.wants[p] = w
		return w
	}
	expired := add(7, 0, 42)
	add(1, time.Second, -1)
	add(2, time.Second, -1)
	add(3, time.Second, -1)

	first := partitionsOf(l.due(now))
	select {
	case f := <-expired.reply:
		if f.err != nil || len(f.msgs) != 0 || f.hw != 42 {
			t.Errorf("expired want answered %+v, want no records, no error, high-water mark 42", f)
		}
	default:
		t.Fatal("the want whose wait passed was not answered")
	}
	if _, ok := l.wants[7]; ok {
		t.Error("the answered want is still waiting")
	}
	second := partitionsOf(l.due(now))
	if len(first) != 3 || len(second) != 3 || first[0] == second[0] {
		t.Errorf("requests %v then %v: want the three waiting partitions, starting elsewhere each time", first, second)
	}
}

func partitionsOf(ws []*fetchWant) []int {
	var ps []int
	for _, w := range ws {
		ps = append(ps, w.partition)
	}
	return ps
}

// Records before the offset asked for (a compressed batch starts earlier)
// are skipped; key, value, time and headers are copied out.
func TestReadRecords(t *testing.T) {
	at := time.UnixMilli(1_796_400_000_000)
	r := protocol.NewRecordReader(
		protocol.Record{Offset: 9, Time: at, Value: protocol.NewBytes([]byte("skipped"))},
		protocol.Record{Offset: 10, Time: at, Key: protocol.NewBytes([]byte("k")), Value: protocol.NewBytes([]byte("v")),
			Headers: []protocol.Header{{Key: "h", Value: []byte("x")}}},
		protocol.Record{Offset: 11, Time: at, Value: protocol.NewBytes([]byte("w"))},
	)
	msgs, err := readRecords(r, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 2 || msgs[0].Offset != 10 || string(msgs[0].Key) != "k" || string(msgs[0].Value) != "v" ||
		!msgs[0].Time.Equal(at) || len(msgs[0].Headers) != 1 || string(msgs[0].Headers[0].Value) != "x" ||
		msgs[1].Offset != 11 || msgs[1].Key != nil || string(msgs[1].Value) != "w" {
		t.Errorf("readRecords = %+v", msgs)
	}
	if msgs, err := readRecords(nil, 0); err != nil || msgs != nil {
		t.Errorf("readRecords(nil) = %v, %v; want nothing", msgs, err)
	}
}
