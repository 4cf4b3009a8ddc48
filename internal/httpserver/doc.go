// Package httpserver is the HTTP side every service shares: a gin engine with
// GET /healthz (200 while the process runs), GET /readyz (200 when every
// registered readiness check passes, else 503 with a JSON body naming each
// failing check and why; the checks run at most once per ReadyTTL, however
// many probes come) and GET /metrics (Prometheus text format from the
// service's own registry, with Go and process collectors).
//
// HTTP manners: a method a path has no route for gets 405 with an Allow
// header; routes registered with GET answer HEAD as well; an error that
// names a client's value echoes it through Quote, at most MaxQuoted
// characters.
//
// The surface is closed by default: every connection has read-header, read,
// write and idle timeouts (a client that dribbles its headers is dropped
// after Config.ReadHeaderTimeout), request bodies are capped at
// Config.MaxBodyBytes, a mutating request needs Config.AdminToken when one
// is set (RequireToken), and Go's profiler is served only with Config.Pprof,
// on a listener of its own (Config.PprofAddr, loopback by default). A
// long-lived response such as a Server-Sent Events stream lifts its own
// deadlines with Unbounded.
//
// Services add their own routes to the *gin.Engine. The server listens in
// OnStart, so a bad or taken address fails start-up, and shuts down
// gracefully in OnStop.
package httpserver
