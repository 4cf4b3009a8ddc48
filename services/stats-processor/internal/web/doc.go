// Package web serves stats-processor's live traffic page: GET / (an HTML page,
// its script and style embedded in the binary, no network access needed) and
// GET /stats/stream, a Server-Sent Events stream the page listens to.
//
// One goroutine per process (Stream.Start) reads the same answer as GET /stats
// every Options.Interval, adds this instance's events per second, late and
// dead-lettered counts and the watermark's lag, and sends it to every
// connected client only when it changed, so any number of open pages cost one
// Redis read per interval. A client that reads too slowly skips to the newest
// snapshot rather than holding the others back.
//
// How it fails: when Redis cannot be read the clients get an "unavailable"
// event and the stream keeps polling; beyond Options.MaxPerClient streams
// from one address a new one gets 429, beyond Options.MaxClients in all 503,
// each with a JSON error and Retry-After; a stream ends after
// Options.MaxLifetime and the browser reconnects; Stream.Stop ends every open
// stream so the HTTP server can shut down. The event format is in docs/live-page.md.
package web
