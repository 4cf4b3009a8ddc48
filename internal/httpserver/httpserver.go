package httpserver

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"sort"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/fx"

	"github.com/vehicle-stats/vehicle-stats/internal/validate"
)

// Config is the HTTP listener and what it lets in.
type Config struct {
	// Addr is host:port to listen on; ":9080" listens on every interface.
	Addr string `mapstructure:"addr" usage:"HTTP listen address"`
	// AdminToken, when set, is the bearer token every mutating request
	// (any method but GET, HEAD and OPTIONS) must carry:
	// "Authorization: Bearer <token>". Empty: no check.
	AdminToken string `mapstructure:"admin_token" secret:"true" usage:"bearer token required by mutating endpoints such as PUT /rate (empty: off; prefer the _FILE variable)"`
	// ReadHeaderTimeout bounds reading a request's headers: a client that
	// dribbles them is dropped.
	ReadHeaderTimeout time.Duration `mapstructure:"read_header_timeout" usage:"time limit for reading a request's headers"`
	// ReadTimeout bounds reading a whole request, body included.
	ReadTimeout time.Duration `mapstructure:"read_timeout" usage:"time limit for reading a whole request"`
	// WriteTimeout bounds writing a response. Long-lived streams clear it
	// for themselves (see Unbounded).
	WriteTimeout time.Duration `mapstructure:"write_timeout" usage:"time limit for writing a response (live streams are exempt)"`
	// IdleTimeout is how long a keep-alive connection may wait for its next
	// request.
	IdleTimeout time.Duration `mapstructure:"idle_timeout" usage:"how long an idle keep-alive connection stays open"`
	// MaxBodyBytes is the largest request body accepted; a larger one gets
	// 413.
	MaxBodyBytes int64 `mapstructure:"max_body_bytes" usage:"largest request body accepted, in bytes"`
	// Pprof serves Go's profiler under /debug/pprof/ on PprofAddr when
	// true. Off by default: profiles reveal internals and cost CPU.
	Pprof bool `mapstructure:"pprof" usage:"serve /debug/pprof/ on http.pprof_addr (profiling)"`
	// PprofAddr is the profiler's own listener, loopback by default so that
	// it is reachable only from the host (or through kubectl port-forward).
	PprofAddr string `mapstructure:"pprof_addr" usage:"listen address of /debug/pprof/ when http.pprof is on"`
}

// DefaultConfig is a listener on addr with the default limits and the
// profiler, when enabled, on pprofAddr.
func DefaultConfig(addr, pprofAddr string) Config {
	return Config{
		Addr:              addr,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxBodyBytes:      1 << 20,
		PprofAddr:         pprofAddr,
	}
}

// MinAdminTokenLength is the shortest admin token accepted: a short token
// can be guessed.
const MinAdminTokenLength = 16

// Validate reports every problem, each under its key below http.
func (c Config) Validate() error {
	var ch validate.Check
	ch.ListenAddr("addr", c.Addr)
	// The length only: the value is a secret.
	ch.Require(c.AdminToken == "" || len(c.AdminToken) >= MinAdminTokenLength, "admin_token",
		fmt.Sprintf("%d characters is too short to be secret; use at least %d (e.g. openssl rand -hex 32)", len(c.AdminToken), MinAdminTokenLength))
	for _, d := range []struct {
		key string
		v   time.Duration
	}{{"read_header_timeout", c.ReadHeaderTimeout}, {"read_timeout", c.ReadTimeout}, {"write_timeout", c.WriteTimeout}, {"idle_timeout", c.IdleTimeout}} {
		ch.Require(d.v > 0, d.key, fmt.Sprintf("must be positive, got %s", d.v))
	}
	ch.Require(c.ReadHeaderTimeout <= 0 || c.ReadTimeout <= 0 || c.ReadHeaderTimeout <= c.ReadTimeout, "read_header_timeout",
		fmt.Sprintf("%s is longer than read_timeout (%s)", c.ReadHeaderTimeout, c.ReadTimeout))
	ch.Require(c.MaxBodyBytes >= 1<<10, "max_body_bytes", fmt.Sprintf("must be at least 1024, got %d", c.MaxBodyBytes))
	if c.Pprof {
		ch.ListenAddr("pprof_addr", c.PprofAddr)
		ch.Require(c.PprofAddr != c.Addr, "pprof_addr",
			fmt.Sprintf("must differ from http.addr (%s): the profiler has a listener of its own", c.Addr))
	}
	return ch.Err()
}

// NewRegistry returns a Prometheus registry with the Go runtime and process
// collectors; services register their own metrics on it.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// NewEngine returns a gin engine with the shared routes, in release mode,
// logging each request at debug level, recovering from handler panics,
// refusing bodies larger than cfg.MaxBodyBytes and, when cfg.AdminToken is
// set, requiring it on every mutating request (see RequireToken). A method
// that a path has no route for gets 405 with an Allow header naming those
// it has; the shared routes answer HEAD as well as GET (see GET).
func NewEngine(cfg Config, log *slog.Logger, reg *prometheus.Registry, ready *Readiness) *gin.Engine {
	gin.SetMode(gin.ReleaseMode)
	e := gin.New()
	e.Use(gin.Recovery(), requestLog(log), RequireToken(cfg.AdminToken), LimitBody(cfg.withDefaults().MaxBodyBytes))
	e.HandleMethodNotAllowed = true
	e.NoMethod(methodNotAllowed)
	GET(e, "/healthz", func(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"status": "ok"}) })
	GET(e, "/readyz", func(c *gin.Context) {
		failed := ready.Check(c.Request.Context())
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
	GET(e, "/metrics", gin.WrapH(h))
	return e
}

// RequireToken lets a request that changes something (any method but GET,
// HEAD and OPTIONS) through only with "Authorization: Bearer <token>": 401
// without a bearer token, 403 with a wrong one, each with a JSON error.
// Reading stays open, and so does a request no route takes (it changes
// nothing: it gets 404, or 405 naming the methods the path has). An empty
// token turns the check off. The comparison takes the same time whatever
// the token sent.
func RequireToken(token string) gin.HandlerFunc {
	if token == "" {
		return func(c *gin.Context) { c.Next() }
	}
	// Comparing digests keeps the time independent of the lengths too.
	want := sha256.Sum256([]byte(token))
	return func(c *gin.Context) {
		switch c.Request.Method {
		case http.MethodGet, http.MethodHead, http.MethodOptions:
			c.Next()
			return
		}
		if c.FullPath() == "" { // no route: 404 or 405 follows
			c.Next()
			return
		}
		scheme, cred, _ := strings.Cut(c.GetHeader("Authorization"), " ")
		cred = strings.TrimSpace(cred)
		if !strings.EqualFold(scheme, "Bearer") || cred == "" {
			c.Header("WWW-Authenticate", `Bearer realm="admin"`)
			c.AbortWithStatusJSON(http.StatusUnauthorized, gin.H{"error": "this endpoint needs the admin token: send the header Authorization: Bearer <http.admin_token>"})
			return
		}
		got := sha256.Sum256([]byte(cred))
		if subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
			c.Header("WWW-Authenticate", `Bearer realm="admin", error="invalid_token"`)
			c.AbortWithStatusJSON(http.StatusForbidden, gin.H{"error": "the admin token is wrong"})
			return
		}
		c.Next()
	}
}

// LimitBody refuses a request whose declared body is larger than max with
// 413, and cuts any body off after max bytes (the handler's read then fails
// with an *http.MaxBytesError).
func LimitBody(max int64) gin.HandlerFunc {
	return func(c *gin.Context) {
		if c.Request.ContentLength > max {
			c.AbortWithStatusJSON(http.StatusRequestEntityTooLarge, gin.H{"error": fmt.Sprintf("request body larger than %d bytes (http.max_body_bytes)", max)})
			return
		}
		if c.Request.Body != nil {
			c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, max)
		}
		c.Next()
	}
}

// Unbounded lifts the read and write deadlines of the connection serving w,
// for a long-lived response such as a Server-Sent Events stream: without it
// the write timeout would cut the stream, and the read timeout would cancel
// the request's context. Call it before writing.
func Unbounded(w http.ResponseWriter) error {
	rc := http.NewResponseController(w)
	if err := rc.SetReadDeadline(time.Time{}); err != nil {
		return fmt.Errorf("clear read deadline: %w", err)
	}
	if err := rc.SetWriteDeadline(time.Time{}); err != nil {
		return fmt.Errorf("clear write deadline: %w", err)
	}
	return nil
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

// withDefaults fills the limits left zero, so that no caller serves without
// them by accident.
func (c Config) withDefaults() Config {
	d := DefaultConfig(c.Addr, c.PprofAddr)
	if c.ReadHeaderTimeout <= 0 {
		c.ReadHeaderTimeout = d.ReadHeaderTimeout
	}
	if c.ReadTimeout <= 0 {
		c.ReadTimeout = d.ReadTimeout
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = d.WriteTimeout
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = d.IdleTimeout
	}
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = d.MaxBodyBytes
	}
	return c
}

// maxHeaderBytes bounds a request's headers; Go's default is 1 MiB.
const maxHeaderBytes = 64 << 10

// Server serves an engine on Config.Addr.
type Server struct {
	srv *http.Server
	ln  net.Listener
	log *slog.Logger
}

// Listen binds the address now, so that a bad or taken address is an error
// at start-up rather than a log line later. The server applies cfg's
// timeouts (zero ones take their defaults).
func Listen(cfg Config, handler http.Handler, log *slog.Logger) (*Server, error) {
	return listen("http.addr", cfg.Addr, handler, cfg.withDefaults(), log)
}

func listen(key, addr string, handler http.Handler, cfg Config, log *slog.Logger) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", key, addr, err)
	}
	return &Server{
		srv: &http.Server{
			Handler:           handler,
			ReadHeaderTimeout: cfg.ReadHeaderTimeout,
			ReadTimeout:       cfg.ReadTimeout,
			WriteTimeout:      cfg.WriteTimeout,
			IdleTimeout:       cfg.IdleTimeout,
			MaxHeaderBytes:    maxHeaderBytes,
			ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
		},
		ln:  ln,
		log: log,
	}, nil
}

// ListenPprof serves Go's profiler under /debug/pprof/ on cfg.PprofAddr,
// apart from the service's own listener. A CPU profile or trace may run for
// up to pprofWriteTimeout.
func ListenPprof(cfg Config, log *slog.Logger) (*Server, error) {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	c := cfg.withDefaults()
	c.WriteTimeout = pprofWriteTimeout
	return listen("http.pprof_addr", cfg.PprofAddr, mux, c, log)
}

// pprofWriteTimeout leaves room for ?seconds=N profiles up to about 5 min.
const pprofWriteTimeout = 5*time.Minute + 10*time.Second

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

// Module provides the registry, readiness, engine, and starts the server
// (and the profiler's, with Config.Pprof). It needs a Config and a
// *slog.Logger in the graph.
var Module = fx.Module("httpserver",
	fx.Provide(NewRegistry, NewReadiness, NewEngine),
	fx.Invoke(register),
)

func register(lc fx.Lifecycle, cfg Config, e *gin.Engine, log *slog.Logger) {
	var s, prof *Server
	lc.Append(fx.Hook{
		OnStart: func(context.Context) error {
			var err error
			if s, err = Listen(cfg, e, log); err != nil {
				return err
			}
			if cfg.Pprof {
				if prof, err = ListenPprof(cfg, log); err != nil {
					_ = s.ln.Close()
					return err
				}
				if !isLoopback(prof.Addr()) {
					log.Warn("the profiler listens beyond loopback: anyone who reaches it can profile this process", "addr", prof.Addr())
				}
				log.Info("profiler listening", "addr", prof.Addr())
				go prof.Serve()
			}
			log.Info("http server listening", "addr", s.Addr(), "admin_token", cfg.AdminToken != "")
			go s.Serve()
			return nil
		},
		OnStop: func(ctx context.Context) error {
			var perr error
			if prof != nil {
				perr = prof.Shutdown(ctx)
			}
			return errors.Join(s.Shutdown(ctx), perr)
		},
	})
}

func isLoopback(addr string) bool {
	host, _, _ := net.SplitHostPort(addr)
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
