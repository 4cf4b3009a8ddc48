// Package buildinfo reads what the Go toolchain recorded in the running
// binary about the checkout it was built from. It fails soft: a binary built
// outside a repository (a Docker build without .git, `go run` of a file)
// has no revision, and says so with "".
package buildinfo

import "runtime/debug"

// Revision is the commit `go build` recorded from the git checkout ("" when
// none was recorded) and whether the checkout had uncommitted changes.
func Revision() (rev string, dirty bool) {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "", false
	}
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	return rev, dirty
}
