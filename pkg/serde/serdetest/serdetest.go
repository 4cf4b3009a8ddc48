// Package serdetest reads whole Vehicle records for tests that check what
// was written to the input topic. The product never needs the strings back
// (the processor keeps only type and time, serde.DecodeVehicleEvent), so
// this lives apart from package serde.
package serdetest

import (
	"encoding/json"
	"fmt"

	"github.com/vehicle-stats/vehicle-stats/pkg/model"
	"github.com/vehicle-stats/vehicle-stats/pkg/serde"
)

// DecodeVehicle reads one Vehicle record: serde.DecodeVehicleEvent decides
// whether it meets the contract and gives its type and event time (in UTC,
// to the millisecond); encoding/json gives the strings, read by their exact
// keys. An absent or null vignetteStickerId reads as "".
func DecodeVehicle(data []byte) (model.Vehicle, error) {
	ev, err := serde.DecodeVehicleEvent(data)
	if err != nil {
		return model.Vehicle{}, err
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil {
		return model.Vehicle{}, fmt.Errorf("decode vehicle strings: %w", err)
	}
	v := model.Vehicle{Timestamp: model.TimeFromMillis(ev.EventTime), VehicleType: ev.Type}
	if err := json.Unmarshal(m["plateNumber"], &v.PlateNumber); err != nil {
		return model.Vehicle{}, fmt.Errorf("decode plateNumber: %w", err)
	}
	if raw, ok := m["vignetteStickerId"]; ok && string(raw) != "null" {
		if err := json.Unmarshal(raw, &v.VignetteStickerID); err != nil {
			return model.Vehicle{}, fmt.Errorf("decode vignetteStickerId: %w", err)
		}
	}
	return v, nil
}
