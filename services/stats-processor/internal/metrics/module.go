package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/fx"
)

// Module provides *Metrics registered on the HTTP server's registry.
var Module = fx.Module("metrics",
	fx.Provide(func(reg *prometheus.Registry) (*Metrics, error) { return New(reg) }),
)
