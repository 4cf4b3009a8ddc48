package httpserver

import (
	"runtime"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/vehicle-stats/vehicle-stats/internal/buildinfo"
)

// NewBuildInfo returns the gauge <namespace>_build_info, always 1, whose
// labels say what runs: version (stamped in by the build, -X main.version),
// commit (the VCS revision Go recorded in the binary, "-dirty" appended
// for uncommitted changes; "unknown" when it was built outside a
// repository, as in a Docker build without .git) and goversion.
func NewBuildInfo(namespace, version string) prometheus.Collector {
	g := prometheus.NewGauge(prometheus.GaugeOpts{Namespace: namespace, Name: "build_info",
		Help:        "Always 1; the labels say which build runs: version, commit, goversion.",
		ConstLabels: prometheus.Labels{"version": version, "commit": commit(), "goversion": runtime.Version()}})
	g.Set(1)
	return g
}

// commit is the binary's VCS revision, from its build information.
func commit() string {
	rev, dirty := buildinfo.Revision()
	if rev == "" {
		return "unknown"
	}
	if dirty {
		rev += "-dirty"
	}
	return rev
}
