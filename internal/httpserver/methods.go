package httpserver

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/gin-gonic/gin"
)

// GET registers h on path for GET and for HEAD: a HEAD request gets the
// status and headers a GET would get, Content-Length included, and no
// body. Register every read-only route with it, so that HEAD works wherever
// GET does.
func GET(r gin.IRoutes, path string, h gin.HandlerFunc) {
	r.GET(path, h)
	r.HEAD(path, head(h))
}

// head runs a GET handler for a HEAD request. The body it writes is
// counted instead of sent, and becomes the Content-Length. A handler that
// flushes (a stream) has its headers sent there and its request context
// cancelled, so it ends instead of streaming to a client that takes no
// body.
func head(h gin.HandlerFunc) gin.HandlerFunc {
	return func(c *gin.Context) {
		ctx, cancel := context.WithCancel(c.Request.Context())
		defer cancel()
		w := &headWriter{ResponseWriter: c.Writer, flushed: cancel}
		c.Request, c.Writer = c.Request.WithContext(ctx), w
		h(c)
		c.Writer = w.ResponseWriter
		if !w.Written() && w.n > 0 && w.Header().Get("Content-Length") == "" {
			w.Header().Set("Content-Length", strconv.Itoa(w.n))
		}
	}
}

// headWriter is a HEAD request's gin.ResponseWriter: it counts the body
// instead of writing it (net/http would drop it, a test recorder would
// not).
type headWriter struct {
	gin.ResponseWriter
	n       int
	flushed context.CancelFunc
}

func (w *headWriter) Write(p []byte) (int, error) {
	w.n += len(p)
	return len(p), nil
}

func (w *headWriter) WriteString(s string) (int, error) {
	w.n += len(s)
	return len(s), nil
}

// Flush sends the headers and ends the request: there is nothing more a
// HEAD client can be sent.
func (w *headWriter) Flush() {
	w.ResponseWriter.Flush()
	w.flushed()
}

// Unwrap lets http.ResponseController reach the connection.
func (w *headWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// methodNotAllowed answers a method that the path has no route for; gin has
// put the methods it has into the Allow header.
func methodNotAllowed(c *gin.Context) {
	c.JSON(http.StatusMethodNotAllowed, gin.H{"error": fmt.Sprintf("method %s is not allowed here; use %s (see the Allow header)",
		Quote(c.Request.Method), c.Writer.Header().Get("Allow"))})
}

// MaxQuoted is the most characters of a client's value that an error
// message echoes.
const MaxQuoted = 64

// Quote returns s in double quotes for an error message, escaped as %q
// would, with at most MaxQuoted characters between the quotes; when s is
// cut, the last of them is "…". An error thus names the bad value without
// echoing a hostile one in full.
func Quote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	n := 0
	for i := 0; i < len(s); {
		_, size := utf8.DecodeRuneInString(s[i:])
		q := strconv.Quote(s[i : i+size])
		q = q[1 : len(q)-1]
		m := utf8.RuneCountInString(q)
		// Room for this character, and for the "…" after it unless it is
		// the last.
		if last := i+size == len(s); n+m > MaxQuoted || (!last && n+m > MaxQuoted-1) {
			b.WriteString("…")
			break
		}
		b.WriteString(q)
		n += m
		i += size
	}
	b.WriteByte('"')
	return b.String()
}
