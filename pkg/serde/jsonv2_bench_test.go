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
func init() {
	libDecoders = append(libDecoders, libDecoder{"encoding-json-v2", "syntax, UTF-8, duplicate keys",
		viaLibrary[jsontext.Value](func(b []byte, v any) error { return jsonv2.Unmarshal(b, v) })})
}
