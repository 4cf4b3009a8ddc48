package topics

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"
)

// DefaultMaxMessageBytes is Kafka's default message.max.bytes (1 MiB plus
// the 12 bytes of a record batch's log overhead): the limit a side write
// assumes for a topic until it has read the topic's own max.message.bytes.
const DefaultMaxMessageBytes = 1048588

// sideHeadroom is what a side write leaves below a topic's
// max.message.bytes: the record batch's own header (61 bytes) and any
// difference between kafka-go's estimate of a message's size (MessageSize)
// and its bytes on the wire. The estimate counts fixed 4-byte lengths and
// an 8-byte timestamp where the record format has varints, so a record on
// the wire is no larger than its estimate; the headroom is a margin on top.
const sideHeadroom = 4 << 10

// Headers a side record carries when its value was cut to fit its topic.
const (
	// HeaderTruncated is "true" on a record whose value was cut.
	HeaderTruncated = "truncated"
	// HeaderOriginalSize is the value's size before the cut, in bytes
	// (decimal).
	HeaderOriginalSize = "original-size"
)

// maxShrink is how many times a topic's write size is halved after the
// broker refused a write for its size although the limit read from it
// says it fits (a broker whose limit cannot be read, or an estimate that
// is off): at most 1/16 of the limit.
const maxShrink = 4

// askEvery is how often writes ask again for a limit that could not be
// read (a broker that refuses DescribeConfigs to this client): the default
// is assumed meanwhile, and a size refusal asks at once.
const askEvery = time.Minute

// BatchBytesFor is how many bytes, as MessageSize counts them, one write
// to a topic whose max.message.bytes is limit may carry: a record batch of
// that many bytes stays below the limit.
func BatchBytesFor(limit int) int64 {
	return int64(max(limit-sideHeadroom, limit/2, 1))
}

// MessageSize is kafka-go's estimate of the bytes m takes in a batch: what
// kafka.Writer compares with BatchBytes (and refuses a message over it
// with kafka.MessageTooLargeError). The record written is no larger.
func MessageSize(m kafka.Message) int64 {
	n := 4 + 1 + 1 + (4 + len(m.Key)) + (4 + len(m.Value)) + 8 + varintLen(len(m.Headers))
	for _, h := range m.Headers {
		n += varintLen(len(h.Key)) + len(h.Key) + varintLen(len(h.Value)) + len(h.Value)
	}
	return int64(n)
}

// varintLen is the length of n as a zig-zag varint (the record format's
// lengths).
func varintLen(n int) int {
	u := uint64(n) << 1
	l := 1
	for u >= 0x80 {
		u >>= 7
		l++
	}
	return l
}

// Chunk splits msgs, in order, into runs whose MessageSize adds up to at
// most maxBytes each; a message over maxBytes alone makes a run (Fit it
// first). The runs share msgs' backing array.
func Chunk(msgs []kafka.Message, maxBytes int64) [][]kafka.Message {
	var out [][]kafka.Message
	start, sum := 0, int64(0)
	for i := range msgs {
		n := MessageSize(msgs[i])
		if i > start && sum+n > maxBytes {
			out = append(out, msgs[start:i:i])
			start, sum = i, 0
		}
		sum += n
	}
	if start < len(msgs) {
		out = append(out, msgs[start:])
	}
	return out
}

// Fit returns m unchanged and false when MessageSize(m) is at most
// maxBytes. Otherwise it returns a copy cut to fit, and true: the value is
// cut (a prefix of it kept) and the headers HeaderTruncated = "true" and
// HeaderOriginalSize = the value's size in bytes are added. Should the key
// and headers alone not fit (a key of megabytes), the key is cut as well,
// then the other headers' values, in order. m itself is not changed.
func Fit(m kafka.Message, maxBytes int64) (kafka.Message, bool) {
	if MessageSize(m) <= maxBytes {
		return m, false
	}
	out := m
	out.Headers = append(slices.Clip(m.Headers),
		kafka.Header{Key: HeaderTruncated, Value: []byte("true")},
		kafka.Header{Key: HeaderOriginalSize, Value: strconv.AppendInt(nil, int64(len(m.Value)), 10)})
	// MessageSize grows by one byte per byte of value or key (their
	// lengths are fixed-size in the estimate), and by at least one per byte
	// of a header's value: cutting the excess off fits.
	cut := func(b []byte) []byte {
		over := MessageSize(out) - maxBytes
		if over <= 0 {
			return b
		}
		return b[:max(0, int64(len(b))-over)]
	}
	out.Value = cut(m.Value)
	out.Key = cut(m.Key)
	for i := range len(m.Headers) { // out.Headers is a copy: append above reallocated
		out.Headers[i].Value = cut(out.Headers[i].Value)
	}
	return out, true
}

// SizeRefused reports whether err says a write was refused for its size:
// the broker's MESSAGE_TOO_LARGE ([10], over max.message.bytes) or
// RECORD_LIST_TOO_LARGE ([18]), or kafka-go's own refusal of a message
// over the writer's BatchBytes.
func SizeRefused(err error) bool {
	return errors.Is(err, kafka.MessageSizeTooLarge) || errors.Is(err, kafka.RecordListTooLarge)
}

// SideWriter writes dead letters and late events: each message names its
// topic, and each topic's writes are sized in bytes to stay below the
// topic's max.message.bytes, read from a broker (Load, and again whenever
// the broker refuses a write for its size). A write larger than that is
// split into several requests; a single record too large for its topic is
// cut to fit (Fit). It is safe for concurrent use; WriteMessages returns
// once every record is acknowledged (acks=all) or one write failed.
type SideWriter struct {
	client    *kafka.Client
	newWriter func(batchBytes int64) *kafka.Writer
	truncated func(topic string, n int)

	mu     sync.Mutex
	topics map[string]*sideTopic
}

// sideTopic is one topic's limit and writer.
type sideTopic struct {
	name string
	// mu is held for reading while a write is under way, for writing while
	// the limit and the writer change.
	mu     sync.RWMutex
	limit  int       // max.message.bytes
	read   bool      // limit was read from a broker (else the default, assumed)
	asked  time.Time // when a write last asked for the limit while not read
	shrink int       // the write size is halved this many times (see maxShrink)
	w      *kafka.Writer
}

// SideWriter returns a writer for the side topics. truncated, when not
// nil, is called with the topic and the number of records cut to fit
// (Fit) in each acknowledged write that had any.
func (t *Topics) SideWriter(truncated func(topic string, n int)) *SideWriter {
	return &SideWriter{
		client: t.client,
		newWriter: func(batchBytes int64) *kafka.Writer {
			w := t.Writer("")
			w.BatchBytes = batchBytes
			return w
		},
		truncated: truncated,
		topics:    map[string]*sideTopic{},
	}
}

// Load reads the max.message.bytes of each topic from a broker (one
// request). A topic whose limit cannot be read keeps the one it had, at
// first DefaultMaxMessageBytes, and is asked again at its next write.
func (s *SideWriter) Load(ctx context.Context, topics ...string) error {
	var sts []*sideTopic
	for _, name := range topics {
		if name != "" {
			sts = append(sts, s.topic(name))
		}
	}
	limits, err := s.maxMessageBytes(ctx, sts)
	for _, st := range sts {
		if l, ok := limits[st.name]; ok {
			st.mu.Lock()
			old := s.setLimit(st, l)
			st.mu.Unlock()
			closeWriter(old)
		}
	}
	return err
}

// Limit returns the max.message.bytes the writer uses for topic, and
// whether it was read from a broker (false: DefaultMaxMessageBytes,
// assumed).
func (s *SideWriter) Limit(topic string) (limit int, read bool) {
	st := s.topic(topic)
	st.mu.RLock()
	defer st.mu.RUnlock()
	return st.limit, st.read
}

// WriteMessages writes msgs, each to the topic it names, and returns once
// all are acknowledged. On a failure some may have been written: write
// them all again (side records are at least once).
func (s *SideWriter) WriteMessages(ctx context.Context, msgs ...kafka.Message) error {
	// Each topic's records in their order; nearly always one or two topics.
	var order []string
	for _, m := range msgs {
		if !slices.Contains(order, m.Topic) {
			order = append(order, m.Topic)
		}
	}
	for _, name := range order {
		group := msgs
		if len(order) > 1 {
			group = make([]kafka.Message, 0, len(msgs))
			for _, m := range msgs {
				if m.Topic == name {
					group = append(group, m)
				}
			}
		}
		if err := s.write(ctx, s.topic(name), group); err != nil {
			return fmt.Errorf("write %d records to %s: %w", len(group), name, err)
		}
	}
	return nil
}

// write writes one topic's records, chunk by chunk. When the broker
// refuses a chunk for its size, the topic's limit is read again (and the
// write size halved if the limit did not go down), and the rest is
// written again with it, a few times at most.
func (s *SideWriter) write(ctx context.Context, st *sideTopic, msgs []kafka.Message) error {
	st.mu.Lock()
	ask := !st.read && time.Since(st.asked) >= askEvery
	if ask {
		st.asked = time.Now()
	}
	st.mu.Unlock()
	if ask {
		_ = s.Load(ctx, st.name) // on failure the assumed default, asked again later
	}
	for refusals := 0; ; refusals++ {
		n, err := s.writeSome(ctx, st, msgs)
		msgs = msgs[n:]
		if err == nil || !SizeRefused(err) || refusals == maxShrink || ctx.Err() != nil {
			return err
		}
		s.refused(ctx, st)
	}
}

// writeSome fits and chunks msgs to the topic's limit and writes the
// chunks in order; it returns how many messages were acknowledged before
// the first failure.
func (s *SideWriter) writeSome(ctx context.Context, st *sideTopic, msgs []kafka.Message) (int, error) {
	st.mu.RLock()
	defer st.mu.RUnlock()
	maxBytes := st.batchBytes()
	fitted := msgs
	var cutAt []int // indexes of the records cut to fit
	for i := range msgs {
		if m, ok := Fit(msgs[i], maxBytes); ok {
			if cutAt == nil {
				fitted = slices.Clone(msgs)
			}
			fitted[i] = m
			cutAt = append(cutAt, i)
		}
	}
	done := 0
	for _, chunk := range Chunk(fitted, maxBytes) {
		if err := st.w.WriteMessages(ctx, chunk...); err != nil {
			return done, summarize(err)
		}
		n := 0
		for _, i := range cutAt {
			if i >= done && i < done+len(chunk) {
				n++
			}
		}
		done += len(chunk)
		if n > 0 && s.truncated != nil {
			s.truncated(st.name, n)
		}
	}
	return done, nil
}

// refused reads the topic's limit again after a write refused for its
// size; when it did not go down, the write size is halved instead.
func (s *SideWriter) refused(ctx context.Context, st *sideTopic) {
	st.mu.RLock()
	before := st.limit
	st.mu.RUnlock()
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	_ = s.Load(rctx, st.name)
	cancel()
	st.mu.Lock()
	var old *kafka.Writer
	if st.limit >= before && st.shrink < maxShrink {
		st.shrink++
		old, st.w = st.w, s.newWriter(st.batchBytes())
	}
	st.mu.Unlock()
	closeWriter(old)
}

// topic returns the state of topic name, made on first use with the
// default limit.
func (s *SideWriter) topic(name string) *sideTopic {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.topics[name]
	if st == nil {
		st = &sideTopic{name: name, limit: DefaultMaxMessageBytes}
		st.w = s.newWriter(st.batchBytes())
		s.topics[name] = st
	}
	return st
}

// setLimit records a limit read from a broker and, when it changed, makes
// a writer for it; it returns the writer to close (outside st.mu), if
// any. st.mu is held.
func (s *SideWriter) setLimit(st *sideTopic, limit int) *kafka.Writer {
	st.read = true
	if limit == st.limit {
		return nil
	}
	st.limit, st.shrink = limit, 0
	old := st.w
	st.w = s.newWriter(st.batchBytes())
	return old
}

// batchBytes is the most one write to the topic may carry. st.mu is held.
func (st *sideTopic) batchBytes() int64 {
	return max(BatchBytesFor(st.limit)>>st.shrink, 1)
}

func closeWriter(w *kafka.Writer) {
	if w != nil {
		_ = w.Close()
	}
}

// Close closes every topic's writer.
func (s *SideWriter) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	for _, st := range s.topics {
		st.mu.Lock()
		errs = append(errs, st.w.Close())
		st.mu.Unlock()
	}
	return errors.Join(errs...)
}

// maxMessageBytes reads max.message.bytes of the topics from a broker.
func (s *SideWriter) maxMessageBytes(ctx context.Context, sts []*sideTopic) (map[string]int, error) {
	if len(sts) == 0 {
		return nil, nil
	}
	req := &kafka.DescribeConfigsRequest{}
	for _, st := range sts {
		req.Resources = append(req.Resources, kafka.DescribeConfigRequestResource{
			ResourceType: kafka.ResourceTypeTopic, ResourceName: st.name, ConfigNames: []string{"max.message.bytes"}})
	}
	resp, err := s.client.DescribeConfigs(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("describe the max.message.bytes of the side topics: %w", err)
	}
	out := map[string]int{}
	var errs []error
	for _, r := range resp.Resources {
		if r.Error != nil {
			errs = append(errs, fmt.Errorf("describe %s: %w", r.ResourceName, r.Error))
			continue
		}
		for _, e := range r.ConfigEntries {
			if e.ConfigName != "max.message.bytes" {
				continue
			}
			n, err := strconv.Atoi(e.ConfigValue)
			if err != nil || n <= 0 {
				errs = append(errs, fmt.Errorf("describe %s: max.message.bytes %q", r.ResourceName, e.ConfigValue))
				continue
			}
			out[r.ResourceName] = n
		}
	}
	for _, st := range sts {
		if _, ok := out[st.name]; !ok && len(errs) == 0 {
			errs = append(errs, fmt.Errorf("describe %s: no max.message.bytes in the answer", st.name))
		}
	}
	return out, errors.Join(errs...)
}

// summarize turns kafka-go's WriteErrors, whose text repeats the error of
// every record (16,913 times for 16,913 records), into one error naming
// each distinct cause once; errors.Is still finds each cause.
func summarize(err error) error {
	var we kafka.WriteErrors
	if !errors.As(err, &we) {
		return err
	}
	var causes []error
	seen := map[string]int{}
	for _, e := range we {
		if e == nil {
			continue
		}
		if _, ok := seen[e.Error()]; !ok {
			causes = append(causes, e)
		}
		seen[e.Error()]++
	}
	return &writeErrors{failed: we.Count(), total: len(we), causes: causes, counts: seen}
}

// writeErrors is a summary of kafka.WriteErrors.
type writeErrors struct {
	failed, total int
	causes        []error
	counts        map[string]int
}

func (e *writeErrors) Error() string {
	parts := make([]string, len(e.causes))
	for i, c := range e.causes {
		parts[i] = fmt.Sprintf("%s (%d)", c, e.counts[c.Error()])
	}
	return fmt.Sprintf("%d of %d records refused: %s", e.failed, e.total, strings.Join(parts, "; "))
}

// Unwrap returns each distinct cause.
func (e *writeErrors) Unwrap() []error { return e.causes }
