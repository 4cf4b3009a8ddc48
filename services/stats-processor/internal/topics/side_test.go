package topics

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"testing"

	"github.com/segmentio/kafka-go"
)

func deadLetter(key string, value int) kafka.Message {
	return kafka.Message{Topic: "dead", Key: []byte(key), Value: bytes.Repeat([]byte("v"), value), Headers: []kafka.Header{
		{Key: "error", Value: []byte("invalid record: unknown vehicle type \"SPACESHIP\"")},
		{Key: "source-topic", Value: []byte("vehicle-topic")},
		{Key: "source-partition", Value: []byte("3")},
		{Key: "source-offset", Value: []byte("1234567")},
	}}
}

// MessageSize must be kafka-go's own estimate: a kafka.Writer refuses a
// message over its BatchBytes by that estimate (MessageTooLargeError)
// before it sends anything, and takes one of exactly that size.
func TestMessageSizeIsKafkaGos(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // a message that passes the size check fails on the context, not on a broker
	for _, m := range []kafka.Message{
		{},
		{Key: []byte("k"), Value: []byte("v")},
		deadLetter("CA1234AB", 170),
		deadLetter("CA1234AB", 200_000),
		{Value: make([]byte, 1<<20), Headers: []kafka.Header{{Key: "k", Value: make([]byte, 300)}}},
	} {
		size := MessageSize(m)
		w := &kafka.Writer{Addr: kafka.TCP("127.0.0.1:1"), Topic: "t", BatchBytes: size - 1}
		var tooLarge kafka.MessageTooLargeError
		if err := w.WriteMessages(ctx, m); !errors.As(err, &tooLarge) {
			t.Errorf("size %d: with BatchBytes one less, error %v, want MessageTooLargeError", size, err)
		}
		w.BatchBytes = size
		if err := w.WriteMessages(ctx, m); errors.As(err, &tooLarge) {
			t.Errorf("size %d: with BatchBytes equal, refused as too large", size)
		}
		_ = w.Close()
	}
}

func TestBatchBytesFor(t *testing.T) {
	for _, c := range []struct {
		limit int
		want  int64
	}{
		{DefaultMaxMessageBytes, DefaultMaxMessageBytes - sideHeadroom},
		{64 << 10, 64<<10 - sideHeadroom},
		{6000, 3000}, // a small limit keeps half of it
		{1, 1},
	} {
		if got := BatchBytesFor(c.limit); got != c.want {
			t.Errorf("BatchBytesFor(%d) = %d, want %d", c.limit, got, c.want)
		}
	}
}

func TestChunk(t *testing.T) {
	var msgs []kafka.Message
	for i := range 20_000 {
		msgs = append(msgs, deadLetter(fmt.Sprintf("BAD-%05d", i), 170))
	}
	const maxBytes = 1 << 20
	var total int64
	for _, m := range msgs {
		total += MessageSize(m)
	}
	chunks := Chunk(msgs, maxBytes)
	n := 0
	for i, c := range chunks {
		var sum int64
		for _, m := range c {
			sum += MessageSize(m)
			if string(m.Key) != fmt.Sprintf("BAD-%05d", n) {
				t.Fatalf("chunk %d: record %s out of order, want BAD-%05d", i, m.Key, n)
			}
			n++
		}
		if sum > maxBytes {
			t.Errorf("chunk %d has %d bytes, over %d", i, sum, maxBytes)
		}
		if i < len(chunks)-1 && sum+MessageSize(chunks[i+1][0]) <= maxBytes {
			t.Errorf("chunk %d (%d bytes) could have taken the next record", i, sum)
		}
	}
	if n != len(msgs) {
		t.Fatalf("%d records in the chunks, want %d", n, len(msgs))
	}
	if want := int((total + maxBytes - 1) / maxBytes); len(chunks) != want {
		t.Errorf("%d chunks for %d bytes, want %d", len(chunks), total, want)
	}
	// Appending to a chunk must not overwrite the next one.
	_ = append(chunks[0], kafka.Message{Key: []byte("x")})
	if string(chunks[1][0].Key) == "x" {
		t.Error("a chunk shares capacity with the next")
	}

	big := deadLetter("big", 600_000)
	for _, c := range []struct {
		name string
		msgs []kafka.Message
		want []int
	}{
		{"empty", nil, nil},
		{"two of 600 kB: one each", []kafka.Message{big, big}, []int{1, 1}},
		{"one over the bound: alone", []kafka.Message{deadLetter("a", 10), deadLetter("huge", 2<<20), deadLetter("b", 10)}, []int{1, 1, 1}},
		{"small ones together", []kafka.Message{deadLetter("a", 10), deadLetter("b", 10), deadLetter("c", 10)}, []int{3}},
	} {
		var got []int
		for _, ch := range Chunk(c.msgs, maxBytes) {
			got = append(got, len(ch))
		}
		if fmt.Sprint(got) != fmt.Sprint(c.want) {
			t.Errorf("%s: chunk sizes %v, want %v", c.name, got, c.want)
		}
	}
}

func header(m kafka.Message, key string) (string, bool) {
	for _, h := range m.Headers {
		if h.Key == key {
			return string(h.Value), true
		}
	}
	return "", false
}

func TestFit(t *testing.T) {
	maxBytes := BatchBytesFor(DefaultMaxMessageBytes)

	small := deadLetter("CA1234AB", 600_000)
	if got, cut := Fit(small, maxBytes); cut || !bytes.Equal(got.Value, small.Value) || len(got.Headers) != 4 {
		t.Errorf("a record that fits was changed: cut=%v, %d bytes, %d headers", cut, len(got.Value), len(got.Headers))
	}

	for _, size := range []int{int(maxBytes) - 100, int(maxBytes), 1_100_000, 5 << 20} {
		m := deadLetter("CA1234AB", size)
		orig := bytes.Clone(m.Value)
		got, cut := Fit(m, maxBytes)
		if !cut {
			t.Errorf("%d bytes: not cut", size)
			continue
		}
		if s := MessageSize(got); s > maxBytes || s < maxBytes-8 {
			t.Errorf("%d bytes: cut to a message of %d bytes, want at most %d and not much less", size, s, maxBytes)
		}
		if !bytes.HasPrefix(orig, got.Value) || len(got.Value) >= size {
			t.Errorf("%d bytes: the value is not a shorter prefix of the original", size)
		}
		if v, _ := header(got, HeaderTruncated); v != "true" {
			t.Errorf("%d bytes: header truncated %q", size, v)
		}
		if v, _ := header(got, HeaderOriginalSize); v != strconv.Itoa(size) {
			t.Errorf("%d bytes: header original-size %q", size, v)
		}
		if string(got.Key) != "CA1234AB" || len(got.Headers) != 6 {
			t.Errorf("%d bytes: key %q and %d headers, want the key kept and two headers added", size, got.Key, len(got.Headers))
		}
		// The original is untouched.
		if len(m.Headers) != 4 || !bytes.Equal(m.Value, orig) {
			t.Errorf("%d bytes: Fit changed its argument", size)
		}
	}

	// A late event carries no headers: it gets the two.
	late := kafka.Message{Topic: "late", Key: []byte("k"), Value: make([]byte, 2<<20)}
	if got, cut := Fit(late, maxBytes); !cut || len(got.Headers) != 2 || MessageSize(got) > maxBytes {
		t.Errorf("late event: cut=%v headers %v size %d", cut, got.Headers, MessageSize(got))
	}

	// A key too large for the topic is cut after the value.
	huge := kafka.Message{Key: make([]byte, 2<<20), Value: []byte("v")}
	got, cut := Fit(huge, maxBytes)
	if !cut || len(got.Value) != 0 || MessageSize(got) > maxBytes || len(got.Key) == 0 {
		t.Errorf("huge key: cut=%v value %d key %d size %d", cut, len(got.Value), len(got.Key), MessageSize(got))
	}
	// Header values are cut last (their keys, about 100 bytes with the
	// fixed overhead, never are).
	tiny := deadLetter("k", 50)
	got, cut = Fit(tiny, 140)
	if !cut || MessageSize(got) > 140 {
		t.Errorf("bound below the headers: cut=%v size %d", cut, MessageSize(got))
	}
}

func TestSizeRefused(t *testing.T) {
	for _, c := range []struct {
		err  error
		want bool
	}{
		{nil, false},
		{errors.New("connection refused"), false},
		{kafka.MessageSizeTooLarge, true},
		{fmt.Errorf("write: %w", kafka.RecordListTooLarge), true},
		{kafka.MessageTooLargeError{}, true},
		{summarize(kafka.WriteErrors{nil, kafka.MessageSizeTooLarge, kafka.MessageSizeTooLarge}), true},
		{summarize(kafka.WriteErrors{kafka.LeaderNotAvailable}), false},
	} {
		if got := SizeRefused(c.err); got != c.want {
			t.Errorf("SizeRefused(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}

// summarize names each cause once, with its count, instead of once per
// record.
func TestSummarize(t *testing.T) {
	we := make(kafka.WriteErrors, 16913)
	for i := range we {
		we[i] = kafka.MessageSizeTooLarge
	}
	we[0] = nil
	we[1] = kafka.LeaderNotAvailable
	err := summarize(we)
	want := "16912 of 16913 records refused: " + kafka.LeaderNotAvailable.Error() + " (1); " + kafka.MessageSizeTooLarge.Error() + " (16911)"
	if err.Error() != want {
		t.Errorf("summary %q\n want %q", err, want)
	}
	if !errors.Is(err, kafka.MessageSizeTooLarge) || !errors.Is(err, kafka.LeaderNotAvailable) {
		t.Error("a cause is lost")
	}
	plain := errors.New("dial: refused")
	if summarize(plain) != plain {
		t.Error("an error that is not WriteErrors was changed")
	}
}
