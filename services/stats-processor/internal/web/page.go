package web

import (
	"embed"
	"io/fs"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/vehicle-stats/vehicle-stats/internal/httpserver"
)

// assets is the page's files: static/index.html, app.js, app.css, icon.svg.
//
//go:embed static
var assets embed.FS

// contentSecurityPolicy lets the page load only its own files and talk only
// to its own server: nothing reaches a CDN even by mistake.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; " +
	"connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// Register adds GET / (the live page), GET /live/:file (its files) and
// GET /stats/stream to e, each with HEAD (a HEAD of the stream gets its
// headers and ends).
func (s *Stream) Register(e *gin.Engine) {
	httpserver.GET(e, "/", func(c *gin.Context) { serveAsset(c, "index.html") })
	httpserver.GET(e, "/live/:file", func(c *gin.Context) { serveAsset(c, c.Param("file")) })
	httpserver.GET(e, "/stats/stream", s.serve)
}

func serveAsset(c *gin.Context, name string) {
	if name == "index.html" && c.Request.URL.Path != "/" {
		c.Redirect(http.StatusMovedPermanently, "/")
		return
	}
	path := "static/" + name
	if fi, err := fs.Stat(assets, path); err != nil || fi.IsDir() {
		c.JSON(http.StatusNotFound, gin.H{"error": "no such file: " + httpserver.Quote(name)})
		return
	}
	h := c.Writer.Header()
	h.Set("Content-Security-Policy", contentSecurityPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	// The files change only with the binary; revalidating is cheap.
	h.Set("Cache-Control", "no-cache")
	http.ServeFileFS(c.Writer, c.Request, assets, path)
}
