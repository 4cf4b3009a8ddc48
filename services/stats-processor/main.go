// Command stats-processor counts vehicle events per type in event-time
// tumbling windows, keeps its state in Redis, writes one VehicleStatistics
// record per closed window and type, and serves /healthz, /readyz, /metrics
// and /stats. See docs/contract.md and the README.
package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/vehicle-stats/vehicle-stats/internal/config"
	"github.com/vehicle-stats/vehicle-stats/internal/logging"
	"github.com/vehicle-stats/vehicle-stats/services/stats-processor/internal/app"
)

// version and commit are set at build time with -ldflags "-X
// main.version=... -X main.commit=..." (make build does).
var (
	version = "dev"
	commit  = ""
)

func main() {
	// --help and --version answer on stdout, everything else goes to
	// stderr.
	if len(os.Args) > 1 && os.Args[1] == "reset" {
		err := app.Reset(os.Args[2:], os.Environ(), os.Stdin, os.Stdout)
		switch {
		case errors.Is(err, config.ErrVersion):
			fmt.Println(config.VersionLine(app.Service, version, commit))
		case err != nil && !errors.Is(err, config.ErrHelp):
			fmt.Fprintln(os.Stderr, "stats-processor reset:", err)
			os.Exit(1)
		}
		return
	}
	cfg, err := app.Load(os.Args[1:], os.Environ(), os.Stdout)
	switch {
	case errors.Is(err, config.ErrHelp):
		return
	case errors.Is(err, config.ErrVersion):
		fmt.Println(config.VersionLine(app.Service, version, commit))
		return
	case err != nil:
		fmt.Fprintln(os.Stderr, err)
		fmt.Fprintln(os.Stderr, "Fix the keys above in the YAML file, the environment or the flags (--help lists them all).")
		os.Exit(2)
	}
	log := logging.New(cfg.Log, os.Stderr, app.Service)
	app.Warn(log, cfg, os.Environ())
	// Run exits non-zero itself when start-up fails or a fatal error shuts
	// the application down; it returns only after a clean stop.
	app.New(cfg, version, log).Run()
	log.Info("stopped")
}
