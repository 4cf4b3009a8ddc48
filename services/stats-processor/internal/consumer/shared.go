package consumer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/protocol"
	fetchapi "github.com/segmentio/kafka-go/protocol/fetch"

	"github.com/vehicle-stats/vehicle-stats/services/stats-processor/internal/metrics"
)

// fetchMux fetches many input partitions together: one fetch request per
// partition leader carries every partition whose worker waits for records,
// over the transport's one connection per broker. An instance that owns
// many partitions uses it (Config.FetchSharedAbove) instead of a connection
// and a fetch of its own per partition: at 1,000 partitions that was 1,000
// connections and, live, a fetch request per record and partition, which a
// broker on a small machine answers too late (its offset reads timed out
// and no window closed).
//
// The workers keep everything else: each asks for its partition's records
// from its offset (fetch), counts them and saves, then asks again. A
// partition with nothing new stays in the leader's next request without
// its worker waking, until the wait the worker asked for has passed.
type fetchMux struct {
	c         *Consumer
	transport kafka.RoundTripper // of its own: see topics.FetchTransport
	client    *kafka.Client
	ctx       context.Context // the generation's

	mu    sync.Mutex
	loops map[string]*leaderLoop // by leader address

	offs *offsetBatch // the workers' offset reads, batched
}

// fetchWant is a worker waiting for its partition's records.
type fetchWant struct {
	partition int
	offset    int64
	until     time.Time // answer by then, with nothing if nothing came
	hw        int64     // the high-water mark the last round saw (-1: none yet)
	reply     chan fetched
}

// fetched is the answer to a fetchWant: the records at or after its offset
// (possibly none), the partition's high-water mark (-1: unknown, the fetch
// failed) or the error the broker or the connection gave.
type fetched struct {
	msgs []kafka.Message
	hw   int64
	err  error
}

// leaderLoop sends one leader's fetches, one at a time.
type leaderLoop struct {
	addr  net.Addr
	mu    sync.Mutex
	wants map[int]*fetchWant
	kick  chan struct{}
	turn  int // rotates the partitions' order in the request, so that none starves when the response is full
}

// muxMaxWait bounds how long one shared fetch is held by the broker: a
// worker that asks while a fetch is out waits for it to return before its
// partition is in a request, so the hold is kept short.
const muxMaxWait = 100 * time.Millisecond

// muxPace is the least time from one shared fetch to the next. A broker
// answers a fetch as soon as any of its partitions has a record; unpaced,
// a busy topic's fetches would follow each other as fast as the round
// trips go, each naming every partition, and the broker would spend its
// time looking at partitions with nothing new. Paced, one fetch carries
// what arrived in muxPace, at the cost of at most muxPace of latency.
const muxPace = 20 * time.Millisecond

// muxRetry is the pause after a failed shared fetch before the next one.
const muxRetry = 200 * time.Millisecond

func newFetchMux(ctx context.Context, c *Consumer, transport kafka.RoundTripper) *fetchMux {
	m := &fetchMux{c: c, ctx: ctx, transport: transport, loops: map[string]*leaderLoop{},
		client: &kafka.Client{Addr: kafka.TCP(c.topics.Brokers...), Timeout: 10 * time.Second, Transport: transport}}
	m.offs = &offsetBatch{ctx: ctx, list: func(ctx context.Context, partitions []int) (map[int]offsetRange, error) {
		return listOffsets(ctx, m.client, c.topics.InputTopic, partitions)
	}}
	return m
}

// fetch returns the partition's records from offset on, waiting at most
// wait for some to arrive.
func (m *fetchMux) fetch(ctx context.Context, partition int, offset int64, wait time.Duration) fetched {
	loop, err := m.loopFor(ctx, partition)
	if err != nil {
		return fetched{hw: -1, err: err}
	}
	want := &fetchWant{partition: partition, offset: offset, until: time.Now().Add(wait), hw: -1, reply: make(chan fetched, 1)}
	loop.mu.Lock()
	loop.wants[partition] = want
	loop.mu.Unlock()
	select {
	case loop.kick <- struct{}{}:
	default:
	}
	select {
	case f := <-want.reply:
		return f
	case <-ctx.Done():
		loop.mu.Lock()
		if loop.wants[partition] == want {
			delete(loop.wants, partition)
		}
		loop.mu.Unlock()
		return fetched{hw: -1, err: ctx.Err()}
	}
}

// loopFor returns the loop of the partition's leader, started on first use.
func (m *fetchMux) loopFor(ctx context.Context, partition int) (*leaderLoop, error) {
	p, _, err := m.c.leaders.get(ctx, partition, -1)
	if err != nil {
		return nil, metrics.Failed(metrics.Kafka, err)
	}
	addr := net.JoinHostPort(p.Leader.Host, strconv.Itoa(p.Leader.Port))
	m.mu.Lock()
	defer m.mu.Unlock()
	loop := m.loops[addr]
	if loop == nil {
		loop = &leaderLoop{addr: kafka.TCP(addr), wants: map[int]*fetchWant{}, kick: make(chan struct{}, 1)}
		m.loops[addr] = loop
		go m.run(loop)
	}
	return loop, nil
}

// run sends the leader's fetches until the generation ends.
func (m *fetchMux) run(loop *leaderLoop) {
	for {
		select {
		case <-m.ctx.Done():
			loop.answerAll(fetched{hw: -1, err: m.ctx.Err()})
			return
		case <-loop.kick:
		}
		for m.ctx.Err() == nil {
			start := time.Now()
			wants := loop.due(start)
			if len(wants) == 0 {
				break
			}
			pause := muxRetry
			if full, err := m.round(loop, wants); err == nil {
				pause = muxPace - time.Since(start)
				if full {
					pause = 0 // catching up: the next fetch at once
				}
			}
			if pause > 0 {
				select {
				case <-m.ctx.Done():
				case <-time.After(pause):
				}
			}
		}
	}
}

// due answers, with nothing, the wants whose wait has passed, and returns
// the others, in the loop's rotating order.
func (l *leaderLoop) due(now time.Time) []*fetchWant {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []*fetchWant
	for p, w := range l.wants {
		if !now.Before(w.until) {
			delete(l.wants, p)
			w.reply <- fetched{hw: w.hw}
			continue
		}
		out = append(out, w)
	}
	slices.SortFunc(out, func(a, b *fetchWant) int { return a.partition - b.partition })
	if len(out) > 0 {
		l.turn = (l.turn + 1) % len(out)
		out = append(out[l.turn:], out[:l.turn]...)
	}
	return out
}

// answer gives a want its answer, unless the worker gave up on it or asked
// again meanwhile.
func (l *leaderLoop) answer(w *fetchWant, f fetched) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.wants[w.partition] != w {
		return
	}
	delete(l.wants, w.partition)
	w.reply <- f
}

func (l *leaderLoop) answerAll(f fetched) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for p, w := range l.wants {
		delete(l.wants, p)
		w.reply <- f
	}
}

// round sends one fetch for wants and answers those that got records or an
// error; the others stay for the next round. An error of the whole request
// is every want's answer. full reports an answer of at least half the
// fetch's size: the partitions are behind, and the next fetch goes at once.
func (m *fetchMux) round(loop *leaderLoop, wants []*fetchWant) (full bool, _ error) {
	c := m.c
	wait := muxMaxWait
	now := time.Now()
	for _, w := range wants {
		wait = min(wait, max(w.until.Sub(now), time.Millisecond))
	}
	parts := make([]fetchapi.RequestPartition, len(wants))
	for i, w := range wants {
		parts[i] = fetchapi.RequestPartition{Partition: int32(w.partition), CurrentLeaderEpoch: -1, FetchOffset: w.offset,
			LogStartOffset: -1, PartitionMaxBytes: int32(c.cfg.FetchMaxBytes)}
	}
	req := &fetchapi.Request{ReplicaID: -1, MaxWaitTime: int32(wait.Milliseconds()), MinBytes: 1, MaxBytes: int32(c.cfg.FetchMaxBytes),
		SessionID: -1, SessionEpoch: -1, Topics: []fetchapi.RequestTopic{{Topic: c.topics.InputTopic, Partitions: parts}}}
	ctx, cancel := context.WithTimeout(m.ctx, wait+fetchGuard)
	defer cancel()
	c.metrics.SharedFetches.Inc()
	res, err := m.transport.RoundTrip(ctx, loop.addr, req)
	if err != nil {
		err = fmt.Errorf("fetch %d partitions of %s from %s: %w", len(wants), c.topics.InputTopic, loop.addr, err)
		for _, w := range wants {
			loop.answer(w, fetched{hw: -1, err: err})
		}
		return false, err
	}
	resp, ok := res.(*fetchapi.Response)
	if !ok {
		return false, fmt.Errorf("fetch from %s: unexpected response %T", loop.addr, res)
	}
	byPartition := make(map[int]*fetchWant, len(wants))
	for _, w := range wants {
		byPartition[w.partition] = w
	}
	if resp.ErrorCode != 0 {
		err := fmt.Errorf("fetch %d partitions of %s from %s: %w", len(wants), c.topics.InputTopic, loop.addr, kafka.Error(resp.ErrorCode))
		for _, w := range wants {
			loop.answer(w, fetched{hw: -1, err: err})
		}
		return false, err
	}
	bytes := 0
	for i := range resp.Topics {
		for j := range resp.Topics[i].Partitions {
			p := &resp.Topics[i].Partitions[j]
			w := byPartition[int(p.Partition)]
			if w == nil {
				continue
			}
			if p.ErrorCode != 0 {
				loop.answer(w, fetched{hw: -1, err: fmt.Errorf("fetch %s/%d at %d: %w", c.topics.InputTopic, w.partition, w.offset, kafka.Error(p.ErrorCode))})
				continue
			}
			msgs, err := readRecords(p.RecordSet.Records, w.offset)
			if err != nil {
				loop.answer(w, fetched{hw: -1, err: fmt.Errorf("fetch %s/%d at %d: %w", c.topics.InputTopic, w.partition, w.offset, err)})
				continue
			}
			if len(msgs) > 0 {
				for _, msg := range msgs {
					bytes += len(msg.Key) + len(msg.Value)
				}
				loop.answer(w, fetched{msgs: msgs, hw: p.HighWatermark})
				continue
			}
			loop.mu.Lock()
			w.hw = p.HighWatermark
			loop.mu.Unlock()
		}
	}
	return bytes >= c.cfg.FetchMaxBytes/2, nil
}

// readRecords copies the records at or after offset out of a response (a
// compressed batch may start before the offset asked for).
func readRecords(r protocol.RecordReader, offset int64) ([]kafka.Message, error) {
	if r == nil {
		return nil, nil
	}
	var msgs []kafka.Message
	for {
		rec, err := r.ReadRecord()
		if errors.Is(err, io.EOF) {
			return msgs, nil
		}
		if err != nil {
			return msgs, err
		}
		if rec.Offset < offset {
			continue
		}
		m := kafka.Message{Offset: rec.Offset, Time: rec.Time}
		if m.Key, err = readBytes(rec.Key); err == nil {
			m.Value, err = readBytes(rec.Value)
		}
		if err != nil {
			return msgs, err
		}
		if len(rec.Headers) > 0 {
			m.Headers = make([]kafka.Header, len(rec.Headers))
			for i, h := range rec.Headers {
				m.Headers[i] = kafka.Header{Key: h.Key, Value: slices.Clone(h.Value)}
			}
		}
		msgs = append(msgs, m)
	}
}

func readBytes(b protocol.Bytes) ([]byte, error) {
	if b == nil {
		return nil, nil
	}
	defer b.Close()
	return protocol.ReadAll(b)
}
