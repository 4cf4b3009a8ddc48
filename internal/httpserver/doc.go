// Package httpserver is the HTTP side every service shares: a gin engine with
// GET /healthz (200 while the process runs), GET /readyz (200 when every
// registered readiness check passes, else 503 with a JSON body naming each
// failing check and why) and GET /metrics (Prometheus text format from the
// service's own registry, with Go and process collectors).
//
// Services add their own routes to the *gin.Engine. The server listens in
// OnStart, so a bad or taken address fails start-up, and shuts down
// gracefully in OnStop.
package httpserver
