package validate

import (
	"reflect"
	"strings"
)

// Key is the configuration key of a field, from the mapstructure tags that
// internal/config reads: cfg points to a struct, field to one of its
// fields at any depth (&c.TLS.CAFile gives "tls.ca_file"; a struct tagged
// ",squash" adds no part). Messages that name a key to fix take it from
// here, so that renaming the key cannot leave them stale. Key returns ""
// when field is not inside *cfg; a test of the caller's messages sees that.
func Key(cfg, field any) string {
	v, f := reflect.ValueOf(cfg), reflect.ValueOf(field)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct || f.Kind() != reflect.Pointer {
		return ""
	}
	return key(v.Elem(), f.Pointer(), f.Type().Elem())
}

func key(v reflect.Value, addr uintptr, typ reflect.Type) string {
	t := v.Type()
	for i := range t.NumField() {
		sf, fv := t.Field(i), v.Field(i)
		name, opts, _ := strings.Cut(sf.Tag.Get("mapstructure"), ",")
		if fv.Addr().Pointer() == addr && sf.Type == typ && name != "" {
			return name
		}
		if sf.Type.Kind() != reflect.Struct {
			continue
		}
		if sub := key(fv, addr, typ); sub != "" {
			if opts == "squash" || name == "" {
				return sub
			}
			return name + "." + sub
		}
	}
	return ""
}

// Keys is Key of each field, joined with ", ": the keys to fix together.
func Keys(cfg any, fields ...any) string {
	keys := make([]string, len(fields))
	for i, f := range fields {
		keys[i] = Key(cfg, f)
	}
	return strings.Join(keys, ", ")
}
