package httpserver_test

import (
	"runtime"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vehicle-stats/vehicle-stats/internal/httpserver"
)

func TestBuildInfo(t *testing.T) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(httpserver.NewBuildInfo("svc", "v1.2.3"))
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	if len(mfs) != 1 || mfs[0].GetName() != "svc_build_info" || len(mfs[0].GetMetric()) != 1 {
		t.Fatalf("gathered %v, want one svc_build_info", mfs)
	}
	m := mfs[0].GetMetric()[0]
	labels := map[string]string{}
	for _, l := range m.GetLabel() {
		labels[l.GetName()] = l.GetValue()
	}
	if m.GetGauge().GetValue() != 1 || labels["version"] != "v1.2.3" || labels["goversion"] != runtime.Version() || labels["commit"] == "" {
		t.Errorf("build_info %v = %v; want 1 with version v1.2.3, goversion %s and a commit", labels, m.GetGauge().GetValue(), runtime.Version())
	}
}
