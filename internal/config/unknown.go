package config

import (
	"log/slog"
	"reflect"
	"sort"
	"strings"
)

// UnknownVar is an environment variable that starts with a service's prefix
// but names none of its keys. Load ignores it, so a typo in a variable name
// would silently leave the key at its default. It is not an error, though:
// Kubernetes sets <SERVICE>_PORT, <SERVICE>_SERVICE_HOST and the like for
// every service in the namespace, and a service named like the prefix gets
// variables it never asked for.
type UnknownVar struct {
	// Name is the variable, e.g. PROCESSOR_KAFKA_BROKER.
	Name string
	// Nearest is the known key whose variable is the fewest edits away
	// from Name, e.g. kafka.brokers.
	Nearest string
}

// UnknownEnv returns the variables of environ (as os.Environ) that start
// with prefix but set no key of cfg (a pointer to the configuration struct,
// as for Load), sorted by name, each with the nearest known key. A key's
// variable, its _FILE variable (secrets) and its group's variable
// (PREFIX_REDIS_TLS for redis.tls.enabled) are known.
func UnknownEnv(cfg any, prefix string, environ []string) []UnknownVar {
	known := map[string]string{} // variable -> key
	for _, f := range collect(reflect.Indirect(reflect.ValueOf(cfg)), "") {
		known[EnvName(prefix, f.key)] = f.key
		if f.secret {
			known[EnvName(prefix, f.key+FileSuffix)] = f.key + FileSuffix
		}
		if group, ok := strings.CutSuffix(f.key, "."+EnabledKey); ok {
			known[EnvName(prefix, group)] = group
		}
	}
	var out []UnknownVar
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if _, ok := known[name]; ok || !strings.HasPrefix(name, prefix) {
			continue
		}
		u, best := UnknownVar{Name: name}, -1
		for v, key := range known {
			// Ties go to the smaller key, so the advice does not depend
			// on map order.
			if d := editDistance(name, v); best < 0 || d < best || (d == best && key < u.Nearest) {
				u.Nearest, best = key, d
			}
		}
		out = append(out, u)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// WarnUnknownEnv logs a warning for each variable UnknownEnv finds, naming
// it and the nearest known key. The service starts anyway.
func (s Service) WarnUnknownEnv(log *slog.Logger, cfg any, environ []string) {
	for _, u := range UnknownEnv(cfg, s.EnvPrefix, environ) {
		log.Warn("unknown environment variable ignored: no key of "+s.Name+" is set by it; fix its name if it was meant for one",
			"variable", u.Name, "nearest_key", u.Nearest, "nearest_variable", EnvName(s.EnvPrefix, u.Nearest))
	}
}

// editDistance is the Levenshtein distance of a and b, in bytes (variable
// names are ASCII).
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
