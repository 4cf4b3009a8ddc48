package sink

import (
	"errors"

	"github.com/segmentio/kafka-go"

	"github.com/vehicle-stats/vehicle-stats/internal/kafkasecurity"
)

// ErrClosed is returned by Acquire and Send after Close.
var ErrClosed = errors.New("sink closed")

// Retryable is the one place that decides whether a failed send is worth
// trying again. Kafka's own error codes say so themselves (Temporary); a
// record too large for a request, a broker that refuses the request as too
// large, and authorization or configuration errors are permanent. Anything
// else (connection refused or reset, timeouts, a broker shutting down) is a
// passing condition and retried.
func Retryable(err error) bool {
	if errors.Is(err, kafkasecurity.ErrRefused) {
		return false // a certificate or a password does not fix itself
	}
	var tooLarge kafka.MessageTooLargeError
	if errors.As(err, &tooLarge) {
		return false
	}
	var kerr kafka.Error
	if errors.As(err, &kerr) {
		return kerr.Temporary() || kerr == kafka.BrokerNotAvailable || kerr == kafka.ReplicaNotAvailable
	}
	return true
}
