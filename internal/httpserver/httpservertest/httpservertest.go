// Package httpservertest holds the checks every service's HTTP test makes
// on its assembled engine, so that the services keep the HTTP rules alike.
package httpservertest

import (
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
)

// Methods checks the method rules on every route of e: a GET route answers
// HEAD too (register it with httpserver.GET), and a method that a path
// lacks gets 405 with an Allow header naming exactly the methods it has.
// It sends PATCH to each path, which runs no handler of a path without one.
// paths are routes e must have (so that the check is not of an empty
// engine).
func Methods(t *testing.T, e *gin.Engine, paths ...string) {
	t.Helper()
	methods := map[string][]string{} // path -> its methods
	for _, r := range e.Routes() {
		methods[r.Path] = append(methods[r.Path], r.Method)
	}
	for _, p := range paths {
		if methods[p] == nil {
			t.Errorf("no route %s", p)
		}
	}
	for path, ms := range methods {
		slices.Sort(ms)
		if slices.Contains(ms, http.MethodGet) && !slices.Contains(ms, http.MethodHead) {
			t.Errorf("GET %s answers no HEAD: register it with httpserver.GET", path)
		}
		if slices.Contains(ms, http.MethodPatch) {
			continue
		}
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, httptest.NewRequest(http.MethodPatch, routeParam.ReplaceAllString(path, "/x"), nil))
		allow := strings.Split(rec.Header().Get("Allow"), ", ")
		slices.Sort(allow)
		if rec.Code != http.StatusMethodNotAllowed || !slices.Equal(allow, ms) {
			t.Errorf("PATCH %s: %d Allow %q, want 405 Allow %s", path, rec.Code, rec.Header().Get("Allow"), strings.Join(ms, ", "))
		}
	}
}

// routeParam is a path segment that is a route parameter.
var routeParam = regexp.MustCompile(`/[:*][^/]*`)
