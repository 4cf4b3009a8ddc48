package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
)

// Status is the body of GET /status.
type Status struct {
	// Service is the program name.
	Service string `json:"service"`
	// Version is the build version.
	Version string `json:"version"`
	// Started is when the producer started.
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
	// Kafka is "ok", or says since when sending fails.
	Kafka string `json:"kafka"`
	// LastError is the most recent send error, null if none.
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

// Handlers serve /status and /rate.
type Handlers struct {
	// Status returns the current status.
	Status func() Status
	// SetRate changes the rate and returns the previous one, or an error
	// saying why the rate is not acceptable.
	SetRate func(rate float64) (previous float64, err error)
	// Log records each rate change with the client's address; nil:
	// slog.Default().
	Log *slog.Logger
}

// Register adds the routes to e.
func (h *Handlers) Register(e *gin.Engine) {
	if h.Log == nil {
		h.Log = slog.Default()
	}
	e.GET("/status", h.getStatus)
	e.PUT("/rate", h.putRate)
}

func (h *Handlers) getStatus(c *gin.Context) {
	c.JSON(http.StatusOK, h.Status())
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

// decodeRate reads exactly one JSON object with a numeric "rate" and
// nothing else.
func decodeRate(r io.Reader) (float64, error) {
	const want = `want a JSON object like {"rate": 5}`
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	var req RateRequest
	if err := dec.Decode(&req); err != nil {
		var tooLarge *http.MaxBytesError
		switch {
		case errors.As(err, &tooLarge):
			return 0, fmt.Errorf("body larger than %d bytes; %s", maxBody, want)
		case errors.Is(err, io.EOF):
			return 0, fmt.Errorf("empty body; %s", want)
		}
		return 0, fmt.Errorf("body is not valid: %w; %s", err, want)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return 0, fmt.Errorf("extra data after the JSON object; %s", want)
	}
	if req.Rate == nil {
		return 0, fmt.Errorf("missing field \"rate\"; %s", want)
	}
	return *req.Rate, nil
}

func badRequest(c *gin.Context, err error) {
	c.JSON(http.StatusBadRequest, gin.H{"error": err.Error()})
}
