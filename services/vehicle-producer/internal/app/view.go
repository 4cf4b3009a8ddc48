package app

import (
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"strings"
	"time"
)

// PublicJSON renders the effective configuration as JSON keyed like the
// YAML file (durations as "5ms"), for GET /status. A field tagged
// `secret:"true"` is shown as "***" when set, so adding credentials later
// cannot leak them.
func (c Config) PublicJSON() (json.RawMessage, error) {
	b, err := json.Marshal(view(reflect.ValueOf(c)))
	if err != nil {
		return nil, fmt.Errorf("render configuration: %w", err)
	}
	return b, nil
}

func view(v reflect.Value) any {
	if d, ok := v.Interface().(time.Duration); ok {
		return d.String()
	}
	if v.Kind() != reflect.Struct {
		return v.Interface()
	}
	out := map[string]any{}
	t := v.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		key, opts, _ := strings.Cut(f.Tag.Get("mapstructure"), ",")
		if f.IsExported() && opts == "squash" {
			// A component's keys at this level (kafka.brokers of the
			// embedded connection).
			if m, ok := view(v.Field(i)).(map[string]any); ok {
				maps.Copy(out, m)
			}
			continue
		}
		if !f.IsExported() || key == "" || key == "-" {
			continue
		}
		if f.Tag.Get("secret") == "true" {
			if !v.Field(i).IsZero() {
				out[key] = "***"
			} else {
				out[key] = ""
			}
			continue
		}
		out[key] = view(v.Field(i))
	}
	return out
}
