package config

import (
	"fmt"
	"io"
	"reflect"
	"runtime"
	"time"

	"github.com/spf13/pflag"
	"github.com/vehicle-stats/vehicle-stats/internal/buildinfo"
)

// flagValue keeps a flag's text as given: decode parses it as it parses the
// same key from the file or the environment, so a bad value is reported
// once, naming its key. The type only shows in --help, and makes a true/false
// flag work bare (--redis.tls.enabled).
type flagValue struct {
	text string
	typ  string
}

func (v *flagValue) String() string     { return v.text }
func (v *flagValue) Set(s string) error { v.text = s; return nil }
func (v *flagValue) Type() string       { return v.typ }

// addFlag registers key as a flag of type typ (typeName's names).
func addFlag(fs *pflag.FlagSet, key, typ, usage string) {
	fl := fs.VarPF(&flagValue{typ: typ}, key, "", usage)
	if typ == "bool" {
		fl.NoOptDefVal = "true"
	}
}

// typeName is how --help names a value of type t: pflag's own names, so
// that its usage lines read as for its typed flags.
func typeName(t reflect.Type) string {
	if t == reflect.TypeFor[time.Duration]() {
		return "duration"
	}
	switch t.Kind() {
	case reflect.Bool:
		return "bool"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "int"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "uint"
	case reflect.Float32, reflect.Float64:
		return "float"
	case reflect.Slice:
		return "strings"
	}
	return "string"
}

// refuse splits fields into those the service takes and those it refuses.
func refuse(fields []field, refused map[string]string) (taken, out []field) {
	for _, f := range fields {
		if _, ok := refused[f.key]; ok {
			out = append(out, f)
			continue
		}
		taken = append(taken, f)
	}
	return taken, out
}

// usage is --help: how to call the program and its subcommands, then every
// flag.
func usage(out io.Writer, opts Options, fs *pflag.FlagSet) {
	fmt.Fprintf(out, "Usage: %s [flags]\n", opts.Service)
	for _, c := range opts.Commands {
		fmt.Fprintf(out, "       %s %s\n", opts.Service, c.Usage)
	}
	if len(opts.Commands) > 0 {
		fmt.Fprintf(out, "\nCommands:\n")
		for _, c := range opts.Commands {
			fmt.Fprintf(out, "  %s\n      %s\n", c.Usage, c.Summary)
		}
	}
	fmt.Fprintf(out, "\nEach flag is also a key of the YAML file (--config) and an environment\n"+
		"variable (%sKEY); a flag beats the variable, which beats the file.\n\nFlags:\n%s", opts.EnvPrefix, fs.FlagUsages())
}

// commandHint reminds that a subcommand comes first.
func commandHint(opts Options) string {
	if len(opts.Commands) == 0 {
		return ""
	}
	return fmt.Sprintf("; a command comes first (%s %s)", opts.Service, opts.Commands[0].Usage)
}

// VersionLine is what --version prints: the program, its version and commit
// (stamped by the build with -ldflags "-X main.version=... -X
// main.commit=..."; a build without the commit falls back to the one the Go
// toolchain recorded from the checkout, if any) and the Go version.
func VersionLine(program, version, commit string) string {
	if commit == "" {
		commit = vcsRevision()
	}
	return fmt.Sprintf("%s %s (commit %s, %s, %s/%s)", program, version, commit, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

// vcsRevision is the commit `go build` recorded from a git checkout, cut
// to 12 characters, or "unknown".
func vcsRevision() string {
	rev, dirty := buildinfo.Revision()
	if rev == "" {
		return "unknown"
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if dirty {
		rev += "-dirty"
	}
	return rev
}
