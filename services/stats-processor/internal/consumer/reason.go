package consumer

import (
	"errors"

	"github.com/vehicle-stats/vehicle-stats/pkg/model"
	"github.com/vehicle-stats/vehicle-stats/pkg/serde"
	"github.com/vehicle-stats/vehicle-stats/services/stats-processor/internal/eventtime"
	"github.com/vehicle-stats/vehicle-stats/services/stats-processor/internal/metrics"
)

// deadLetterReasons maps the causes a record is dead-lettered for to the
// dead_letters_total reason, checked in order with errors.Is; a cause not
// listed is Malformed. It is the one place that decides a reason.
var deadLetterReasons = []struct {
	cause  error
	reason metrics.DeadLetterReason
}{
	{eventtime.ErrFutureEvent, metrics.Future},
	{eventtime.ErrBeyondYear9999, metrics.BadTimestamp},
	{serde.ErrInvalidTimestamp, metrics.BadTimestamp},
	{model.ErrTimestampOutOfRange, metrics.BadTimestamp},
	{model.ErrMissingField, metrics.MissingField},
	{model.ErrUnknownVehicleType, metrics.InvalidType},
	{serde.ErrWrongType, metrics.InvalidType},
	{serde.ErrTooDeep, metrics.TooLarge},
	{serde.ErrMalformedJSON, metrics.Malformed},
	{serde.ErrDuplicateKey, metrics.Malformed},
	{model.ErrInvalidUTF8, metrics.Malformed},
}

// deadLetterReason is why err sends a record to the dead-letter topic.
func deadLetterReason(err error) metrics.DeadLetterReason {
	for _, r := range deadLetterReasons {
		if errors.Is(err, r.cause) {
			return r.reason
		}
	}
	return metrics.Malformed
}
