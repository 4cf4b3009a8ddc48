package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/vehicle-stats/vehicle-stats/internal/httpserver"
)

// Status is the body of GET /status.
type Status struct {
	// Service is the program name.
	Service string `json:"service"`
	// Version is the build version.
	Version string `json:"version"`
	// Started is when the process started.
	Started time.Time `json:"started"`
	// Uptime is the time since Started, e.g. "1h2m3s".
	Uptime string `json:"uptime"`
	// UptimeSeconds is Uptime in seconds.
	UptimeSeconds float64 `json:"uptimeSeconds"`
	// Rate is the current target rate in events per second (0 = unlimited).
	Rate float64 `json:"rate"`
	// Count is the number of events to send before exiting, 0 for no limit.
	Count uint64 `json:"count"`
	// Seed is the effective seed: the one configured, or the random one
	// picked for seed 0 (run again with it to get the same events).
	Seed uint64 `json:"seed"`
	// Generated counts the events made and handed to the Kafka writer.
	Generated uint64 `json:"generated"`
	// Sent counts the events Kafka acknowledged.
	Sent uint64 `json:"sent"`
	// SentBytes is the keys and values of the sent events, in bytes.
	SentBytes uint64 `json:"sentBytes"`
	// SentByType splits Sent by vehicle type.
	SentByType map[string]uint64 `json:"sentByType"`
	// InFlight counts events handed over and not yet acknowledged.
	InFlight int `json:"inFlight"`
	// SendFailures counts failed send attempts (the events were retried).
	SendFailures uint64 `json:"sendFailures"`
	// Kafka is "ok" while the brokers answer for the topic and sends
	// succeed (what /readyz checks), else "failing".
	Kafka string `json:"kafka"`
	// KafkaFailing says why and since when Kafka is failing; null while
	// it is ok.
	KafkaFailing *Failure `json:"kafkaFailing"`
	// LastError is the most recent send error, null if none; it stays
	// after sending works again.
	LastError *ErrorInfo `json:"lastError"`
	// Complete says count events were sent and acknowledged.
	Complete bool `json:"complete"`
	// Config is the effective configuration, without secrets.
	Config json.RawMessage `json:"config"`
}

// ErrorInfo is an error with its time.
type ErrorInfo struct {
	// Message is the error text.
	Message string `json:"message"`
	// Time is when it happened.
	Time time.Time `json:"time"`
}

// Failure is a state that went wrong.
type Failure struct {
	// Error says why.
	Error string `json:"error"`
	// Since is when it began.
	Since time.Time `json:"since"`
}

// Handlers serve /status and /rate.
type Handlers struct {
	// Status returns the current status; ctx is the request's.
	Status func(ctx context.Context) Status
	// SetRate changes the rate and returns the previous one, or an error
	// saying why the rate is not acceptable.
	SetRate func(rate float64) (previous float64, err error)
	// Log records each rate change with the client's address; nil:
	// slog.Default().
	Log *slog.Logger
}

// Register adds the routes to e: GET (and HEAD) /status, PUT /rate.
func (h *Handlers) Register(e *gin.Engine) {
	if h.Log == nil {
		h.Log = slog.Default()
	}
	httpserver.GET(e, "/status", h.getStatus)
	e.PUT("/rate", h.putRate)
}

func (h *Handlers) getStatus(c *gin.Context) {
	c.JSON(http.StatusOK, h.Status(c.Request.Context()))
}

// maxBody is far more than {"rate": 12345.678} needs.
const maxBody = 1 << 10

// RateRequest is the body of PUT /rate.
type RateRequest struct {
	// Rate is the new rate in events per second; 0 = as fast as possible.
	Rate *float64 `json:"rate"`
}

// RateResponse is the answer to a good PUT /rate.
type RateResponse struct {
	// Rate is the new rate.
	Rate float64 `json:"rate"`
	// Previous is the rate before.
	Previous float64 `json:"previous"`
}

func (h *Handlers) putRate(c *gin.Context) {
	rate, err := decodeRate(http.MaxBytesReader(c.Writer, c.Request.Body, maxBody))
	if err != nil {
		badRequest(c, err)
		return
	}
	prev, err := h.SetRate(rate)
	if err != nil {
		badRequest(c, fmt.Errorf("rate: %w", err))
		return
	}
	// The peer, not X-Forwarded-For, which any client can write.
	h.Log.Info("rate changed", "rate", rate, "previous", prev, "client", c.Request.RemoteAddr)
	c.JSON(http.StatusOK, RateResponse{Rate: rate, Previous: prev})
}

// decodeRate reads exactly one JSON object whose only field is a numeric
// "rate" (its name matched regardless of case, as encoding/json matches it;
// null counts as absent), given once: {"rate":1,"rate":100000} is refused,
// not read as its last value. An error echoes at most
// httpserver.MaxQuoted characters of the body.
func decodeRate(r io.Reader) (float64, error) {
	const want = `want a JSON object like {"rate": 5}`
	// Read it whole first: a body too large is refused as such, whatever
	// it holds.
	body, err := io.ReadAll(r)
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return 0, fmt.Errorf("body larger than %d bytes; %s", maxBody, want)
		}
		return 0, fmt.Errorf("read body: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	rate, err := readRate(dec)
	if err != nil {
		switch {
		case errors.Is(err, io.EOF):
			return 0, fmt.Errorf("empty body; %s", want)
		case errors.Is(err, errDuplicateRate):
			return 0, fmt.Errorf("%w; %s", err, want)
		}
		return 0, fmt.Errorf("body is not valid: %w; %s", err, want)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return 0, fmt.Errorf("extra data after the JSON object; %s", want)
	}
	if rate == nil {
		return 0, fmt.Errorf("missing field \"rate\"; %s", want)
	}
	return *rate, nil
}

// errDuplicateRate is a body that gives "rate" more than once.
var errDuplicateRate = errors.New(`field "rate" given more than once: give it once`)

// readRate reads one JSON object token by token (encoding/json would keep
// the last of two "rate" fields without a word) and returns its "rate",
// nil if absent or null.
func readRate(dec *json.Decoder) (*float64, error) {
	if tok, err := dec.Token(); err != nil {
		return nil, err
	} else if tok != json.Delim('{') {
		return nil, errors.New("not a JSON object")
	}
	var (
		rate *float64
		seen bool
	)
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		key, _ := tok.(string) // inside an object, More and Token yield keys
		if !strings.EqualFold(key, "rate") {
			return nil, fmt.Errorf("unknown field %s", httpserver.Quote(key))
		}
		if seen {
			return nil, errDuplicateRate
		}
		seen = true
		if tok, err = dec.Token(); err != nil {
			return nil, err
		}
		switch v := tok.(type) {
		case nil:
		case json.Number:
			f, err := strconv.ParseFloat(v.String(), 64)
			if err != nil {
				return nil, fmt.Errorf(`"rate": %s is out of range`, httpserver.Quote(v.String()))
			}
			rate = &f
		case string:
			return nil, errors.New(`"rate" must be a number, not a string`)
		case bool:
			return nil, errors.New(`"rate" must be a number, not true or false`)
		default: // an object or an array
			return nil, errors.New(`"rate" must be a number, not an object or array`)
		}
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return nil, err
	}
	return rate, nil
}

func badRequest(c *gin.Context, err error) {
	c.JSON(http.StatusBadRequest, gin.H{"error": err.Error()})
}
