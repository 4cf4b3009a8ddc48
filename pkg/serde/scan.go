package serde

import (
	"errors"

	"github.com/vehicle-stats/vehicle-stats/pkg/model"
)

type vehicleRecord struct {
	plate, vignette string
	eventTime       int64
	vtype           model.VehicleType
}

func (r *vehicleRecord) scan(data []byte, full bool) error {
	return &DecodeError{Reason: "not implemented", Offset: 0, Err: ErrMalformedJSON, record: "vehicle"}
}

type statisticsRecord struct {
	start, end int64
	vtype      model.VehicleType
	count      int64
}

func (r *statisticsRecord) scan(data []byte) error {
	return &DecodeError{Reason: "not implemented", Offset: 0, Err: ErrMalformedJSON, record: "statistics"}
}

func fieldError(record string, err error, off int) *DecodeError {
	var fe *model.FieldError
	if errors.As(err, &fe) {
		return &DecodeError{Field: fe.Field, Reason: fe.Reason, Offset: off, Err: fe, record: record}
	}
	return &DecodeError{Reason: err.Error(), Offset: off, Err: err, record: record}
}
