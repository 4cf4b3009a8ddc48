package httpserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	_ "net/http/pprof" // registers /debug/pprof on http.DefaultServeMux, served only when Config.Pprof
	"sort"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/fx"

	"github.com/vehicle-stats/vehicle-stats/internal/config"
)

// Config is the HTTP listener.
type Config struct {
	// Addr is host:port to listen on; ":9080" listens on every interface.
	Addr string `mapstructure:"addr" usage:"HTTP listen address"`
	// Pprof serves Go's profiler under /debug/pprof/ when true. Off by
	// default: profiles reveal internals and cost CPU while taken.
	Pprof bool `mapstructure:"pprof" usage:"serve /debug/pprof/ (profiling)"`
}

// Validate checks that Addr is a host:port.
func (c Config) Validate() error {
	if _, port, err := net.SplitHostPort(c.Addr); err != nil || port == "" {
		return &config.FieldError{Key: "addr", Reason: fmt.Sprintf("%q is not host:port (e.g. :9080 or 127.0.0.1:9080)", c.Addr)}
	}
	return nil
}

// CheckFunc reports whether a dependency is usable; nil means ready. It must
// return promptly when ctx is done.
type CheckFunc func(ctx context.Context) error

// Readiness holds the named checks behind /readyz. It is safe for concurrent
// use.
type Readiness struct {
	mu     sync.RWMutex
	checks map[string]CheckFunc
}

// NewReadiness returns an empty set of checks: ready until one is added.
func NewReadiness() *Readiness { return &Readiness{checks: map[string]CheckFunc{}} }

// Add registers (or replaces) a named check.
func (r *Readiness) Add(name string, check CheckFunc) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.checks[name] = check
}

// Check runs every check concurrently and returns the failing ones by name.
func (r *Readiness) Check(ctx context.Context) map[string]string {
	r.mu.RLock()
	checks := make(map[string]CheckFunc, len(r.checks))
	for k, v := range r.checks {
		checks[k] = v
	}
	r.mu.RUnlock()
	var (
		mu     sync.Mutex
		wg     sync.WaitGroup
		failed = map[string]string{}
	)
	for name, check := range checks {
		wg.Go(func() {
			if err := check(ctx); err != nil {
				mu.Lock()
				failed[name] = err.Error()
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return failed
}

// NewRegistry returns a Prometheus registry with the Go runtime and process
// collectors; services register their own metrics on it.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// NewEngine returns a gin engine with the shared routes, in release mode,
// logging each request at debug level and recovering from handler panics.
func NewEngine(log *slog.Logger, reg *prometheus.Registry, ready *Readiness) *gin.Engine {
	gin.SetMode(gin.ReleaseMode)
	e := gin.New()
	e.Use(gin.Recovery(), requestLog(log))
	e.GET("/healthz", func(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"status": "ok"}) })
	e.GET("/readyz", func(c *gin.Context) {
		ctx, cancel := context.WithTimeout(c.Request.Context(), 3*time.Second)
		defer cancel()
		failed := ready.Check(ctx)
		if len(failed) == 0 {
			c.JSON(http.StatusOK, gin.H{"status": "ready"})
			return
		}
		names := make([]string, 0, len(failed))
		for n := range failed {
			names = append(names, n)
		}
		sort.Strings(names)
		c.JSON(http.StatusServiceUnavailable, gin.H{"status": "not ready", "failing": failed, "checks": names})
	})
	h := promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg})
	e.GET("/metrics", gin.WrapH(h))
	return e
}

// EnablePprof serves Go's profiler under /debug/pprof/.
func EnablePprof(e *gin.Engine) {
	e.Any("/debug/pprof/*any", gin.WrapH(http.DefaultServeMux))
}

func requestLog(log *slog.Logger) gin.HandlerFunc {
	return func(c *gin.Context) {
		start := time.Now()
		c.Next()
		if log.Enabled(c.Request.Context(), slog.LevelDebug) {
			log.Debug("http request", "method", c.Request.Method, "path", c.Request.URL.Path,
				"status", c.Writer.Status(), "duration", time.Since(start))
		}
	}
}

// Server serves an engine on Config.Addr.
type Server struct {
	srv *http.Server
	ln  net.Listener
	log *slog.Logger
}

// Listen binds the address now, so that a bad or taken address is an error
// at start-up rather than a log line later.
func Listen(cfg Config, handler http.Handler, log *slog.Logger) (*Server, error) {
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("http.addr %s: %w", cfg.Addr, err)
	}
	return &Server{
		srv: &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second},
		ln:  ln,
		log: log,
	}, nil
}

// Addr is the bound address (useful with port 0).
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Serve runs until Shutdown; call it in its own goroutine.
func (s *Server) Serve() {
	if err := s.srv.Serve(s.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		s.log.Error("http server stopped", "error", err)
	}
}

// Shutdown stops accepting and waits for running requests until ctx ends.
func (s *Server) Shutdown(ctx context.Context) error { return s.srv.Shutdown(ctx) }

// Module provides the registry, readiness, engine, and starts the server.
// It needs a Config and a *slog.Logger in the graph.
var Module = fx.Module("httpserver",
	fx.Provide(NewRegistry, NewReadiness, NewEngine),
	fx.Invoke(register),
)

func register(lc fx.Lifecycle, cfg Config, e *gin.Engine, log *slog.Logger) {
	if cfg.Pprof {
		EnablePprof(e)
	}
	var s *Server
	lc.Append(fx.Hook{
		OnStart: func(context.Context) error {
			var err error
			if s, err = Listen(cfg, e, log); err != nil {
				return err
			}
			log.Info("http server listening", "addr", s.Addr())
			go s.Serve()
			return nil
		},
		OnStop: func(ctx context.Context) error { return s.Shutdown(ctx) },
	})
}
