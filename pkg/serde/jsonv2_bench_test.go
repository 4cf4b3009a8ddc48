//go:build goexperiment.jsonv2

package serde

import (
	"encoding/json/jsontext"
	jsonv2 "encoding/json/v2"
)

// encoding/json/v2 ships with Go 1.26 behind GOEXPERIMENT=jsonv2:
//
//	GOEXPERIMENT=jsonv2 go test -run 'Lib' -bench DecodeLibraries ./pkg/serde
//
// By default it refuses duplicate keys and invalid UTF-8, as the scanner
// does, so of the libraries it is the one held to the same rules.

type v2Vehicle struct {
	PlateNumber       string         `json:"plateNumber"`
	VignetteStickerID *string        `json:"vignetteStickerId"`
	Timestamp         jsontext.Value `json:"timestamp"`
	VehicleType       string         `json:"vehicleType"`
}

func init() {
	libDecoders = append(libDecoders, struct {
		name   string
		checks string
		decode func([]byte) (VehicleEvent, error)
	}{"encoding-json-v2", "syntax, UTF-8, duplicate keys", func(b []byte) (VehicleEvent, error) {
		var v v2Vehicle
		if err := jsonv2.Unmarshal(b, &v); err != nil {
			return VehicleEvent{}, err
		}
		return eventFromFields(v.PlateNumber, v.Timestamp, v.VehicleType)
	}})
}
