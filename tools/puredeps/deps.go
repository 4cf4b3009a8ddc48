package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os/exec"
	"slices"
	"strings"
)

// Module is this repository's module path.
const Module = "github.com/vehicle-stats/vehicle-stats"

// Pure are the patterns (go list's) of the pure core.
var Pure = []string{
	"./services/stats-processor/internal/eventtime",
	"./services/vehicle-producer/internal/generator",
	"./pkg/...",
	"./internal/validate",
}

// Allowed are the packages outside the standard library that a pure
// package may depend on, besides the pure packages themselves.
var Allowed = []string{
	Module + "/pkg/model",
	Module + "/internal/validate",
}

// Check lists, for each package matched by Pure in the module at dir, the
// dependencies outside the standard library that it must not have, as
// "package: dep1, dep2".
func Check(dir string) ([]string, error) {
	return check(dir, Pure, Allowed)
}

func check(dir string, patterns, allowed []string) ([]string, error) {
	pure, err := goList(dir, append([]string{"-f", "{{.ImportPath}}"}, patterns...))
	if err != nil {
		return nil, err
	}
	var bad []string
	for _, pkg := range pure {
		deps, err := goList(dir, []string{"-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", pkg})
		if err != nil {
			return nil, err
		}
		deps = slices.DeleteFunc(deps, func(d string) bool {
			return d == pkg || slices.Contains(pure, d) || slices.Contains(allowed, d)
		})
		if len(deps) > 0 {
			slices.Sort(deps)
			bad = append(bad, fmt.Sprintf("%s: %s", pkg, strings.Join(deps, ", ")))
		}
	}
	return bad, nil
}

// goList runs go list in dir and returns its non-empty output lines.
func goList(dir string, args []string) ([]string, error) {
	cmd := exec.Command("go", append([]string{"list"}, args...)...)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go list %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	var lines []string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			lines = append(lines, l)
		}
	}
	return lines, sc.Err()
}
