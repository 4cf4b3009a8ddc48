package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"go.uber.org/fx"

	"github.com/vehicle-stats/vehicle-stats/internal/config"
	"github.com/vehicle-stats/vehicle-stats/internal/logging"
	"github.com/vehicle-stats/vehicle-stats/services/vehicle-producer/internal/app"
	"github.com/vehicle-stats/vehicle-stats/services/vehicle-producer/internal/producer"
	"github.com/vehicle-stats/vehicle-stats/services/vehicle-producer/internal/sink"
)

// version and commit are set at build time with -ldflags "-X
// main.version=... -X main.commit=..." (make build does).
var (
	version = "dev"
	commit  = ""
)

func main() {
	os.Exit(run(os.Args[1:], os.Environ(), os.Stdout, os.Stderr))
}

// run is main with its inputs explicit; it returns the exit code. --help
// and --version answer on stdout, everything else goes to stderr.
func run(args, environ []string, stdout, stderr io.Writer) int {
	cfg, err := app.Load(args, environ, stdout)
	switch {
	case errors.Is(err, config.ErrHelp):
		return 0
	case errors.Is(err, config.ErrVersion):
		fmt.Fprintln(stdout, config.VersionLine(app.Service, version, commit))
		return 0
	case err != nil:
		fmt.Fprintln(stderr, err)
		fmt.Fprintln(stderr, "Fix the keys above in the YAML file, the environment or the flags (--help lists them all).")
		return 2
	}
	log := logging.New(cfg.Log, stderr, app.Service).With("version", version)
	app.Warn(log, cfg, environ)

	var (
		p *producer.Producer
		s *sink.Kafka
	)
	a := app.New(cfg, version, log, fx.Populate(&p, &s))
	if err := a.Err(); err != nil {
		log.Error("cannot assemble the application", "error", err)
		return 1
	}
	startCtx, cancel := context.WithTimeout(context.Background(), a.StartTimeout())
	defer cancel()
	if err := a.Start(startCtx); err != nil {
		log.Error("start-up failed", "error", err)
		return 1
	}

	sig := <-a.Wait()
	code := sig.ExitCode
	log.Info("stopping", "reason", reason(sig, p.Status()), "exit_code", code)
	stopCtx, cancelStop := context.WithTimeout(context.Background(), a.StopTimeout())
	defer cancelStop()
	if err := a.Stop(stopCtx); err != nil {
		log.Error("stopping failed", "error", err)
		if code == 0 {
			code = 1
		}
	}
	ps, ss := p.Status(), s.Stats()
	if ss.InFlight > 0 && code == 0 {
		code = 1
	}
	level := slog.LevelInfo
	if code != 0 {
		level = slog.LevelError
	}
	log.Log(context.Background(), level, "stopped",
		"generated", ps.Generated, "sent", ss.Sent, "unacknowledged", ss.InFlight,
		"send_failures", ss.Failures, "seed", ps.Seed, "exit_code", code,
		slog.Group("throughput", throughput(ps, ss)...))
	return code
}

// throughput is the run's sending speed: acknowledged events and bytes (key
// plus value) per second from the start of the loop to the last
// acknowledgement of a count run, or to now.
func throughput(ps producer.Status, ss sink.Stats) []any {
	if ps.Started.IsZero() {
		return nil
	}
	end := ps.Finished
	if end.IsZero() {
		end = time.Now()
	}
	d := end.Sub(ps.Started).Seconds()
	if d <= 0 {
		return nil
	}
	return []any{
		"seconds", d,
		"events_per_second", float64(ss.Sent) / d,
		"bytes", ss.SentBytes,
		"mib_per_second", float64(ss.SentBytes) / d / (1 << 20),
	}
}

// reason says why the application stops. fx reports its own Shutdown as
// SIGTERM, so the producer's state tells the cases apart.
func reason(sig fx.ShutdownSignal, ps producer.Status) string {
	switch {
	case ps.Complete:
		return "count reached"
	case sig.ExitCode != 0:
		return "fatal error"
	case sig.Signal != nil:
		return sig.Signal.String()
	}
	return "shutdown"
}
