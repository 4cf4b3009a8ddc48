// Command stats-processor counts vehicle events per type in event-time
// tumbling windows, keeps its state in Redis, writes one VehicleStatistics
// record per closed window and type, and serves /healthz, /readyz, /metrics
// and /stats. See shared/CONTRACT.md and the README.
package main

import (
	"fmt"
	"os"

	"go.uber.org/fx"

	"github.com/vehicle-stats/vehicle-stats/internal/logging"
)

var version = "dev"

func main() {
	cfg, err := LoadConfig(os.Args[1:], os.Environ())
	if isHelp(err) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		fmt.Fprintln(os.Stderr, "Fix the keys above in the YAML file, the environment or the flags (--help lists them all).")
		os.Exit(2)
	}
	log := logging.New(cfg.Log, os.Stderr, "stats-processor")
	log.Info("starting", "version", version, "instance", cfg.InstanceID, "input_topic", cfg.Kafka.InputTopic,
		"brokers", cfg.Kafka.Brokers, "redis", cfg.Redis.Addr, "window", cfg.EventTime.Window.Size.String())
	app := fx.New(Options(cfg, log), logging.FxLogger(log))
	if err := app.Err(); err != nil {
		log.Error("cannot start", "error", err)
		os.Exit(1)
	}
	app.Run() // until SIGINT/SIGTERM or a fatal error; stops cleanly
	if code := exitCode(app); code != 0 {
		os.Exit(code)
	}
	log.Info("stopped")
}

func exitCode(app *fx.App) int {
	select {
	case sig := <-app.Wait():
		return sig.ExitCode
	default:
		return 0
	}
}
