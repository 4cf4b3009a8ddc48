package config

import (
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
	"github.com/spf13/pflag"
	"github.com/spf13/viper"

	"github.com/vehicle-stats/vehicle-stats/internal/validate"
)

// ErrHelp is returned by Load when the command line asked for --help; the
// usage has been printed and the caller should exit 0.
var ErrHelp = pflag.ErrHelp

// ErrVersion is returned by Load when the command line asked for
// --version: the caller prints VersionLine and exits 0. Nothing else of
// the configuration is read.
var ErrVersion = errors.New("--version asked for")

// Validator is implemented by configuration structs that check their values
// after loading. Validate returns every problem found, joined (errors.Join)
// or as a *Error.
type Validator interface {
	Validate() error
}

// Problem is one bad key.
type Problem struct {
	// Key is the dotted key path, e.g. "window.size".
	Key string
	// Reason says what is wrong and, where it helps, what is expected.
	Reason string
}

// Error lists every bad key found while loading a configuration.
type Error struct {
	// Service names the service, for the message.
	Service string
	// EnvPrefix is the service's environment prefix, to name variables.
	EnvPrefix string
	// Problems are sorted by key.
	Problems []Problem
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: invalid configuration (%d problem", e.Service, len(e.Problems))
	if len(e.Problems) != 1 {
		b.WriteString("s")
	}
	b.WriteString("):")
	for _, p := range e.Problems {
		fmt.Fprintf(&b, "\n  %s", p.Key)
		if e.EnvPrefix != "" && isKey(p.Key) {
			fmt.Fprintf(&b, " (%s)", EnvName(e.EnvPrefix, p.Key))
		}
		fmt.Fprintf(&b, ": %s", p.Reason)
	}
	return b.String()
}

// Options say where a service's configuration comes from.
type Options struct {
	// Service is the program name, used in messages and --help.
	Service string
	// EnvPrefix is prepended to every environment variable, e.g. "PROCESSOR_".
	EnvPrefix string
	// Args are the command-line arguments without the program name.
	Args []string
	// Environ is the environment as KEY=VALUE pairs (os.Environ()).
	Environ []string
	// DefaultFile is read when --config is not given, if it exists.
	DefaultFile string
	// Output receives --help; os.Stderr when nil.
	Output io.Writer
	// Commands are the subcommands, listed by --help.
	Commands []Command
	// Refused are keys of the struct that this service does not take,
	// each with the reason: a struct shared by services may have keys
	// one of them has no use for. Setting one anywhere (file, variable,
	// flag, or its _file twin) is a problem that names the key and
	// gives the reason; --help does not list it.
	Refused map[string]string
}

// Command is a subcommand, for --help.
type Command struct {
	// Usage is the command line after the program name, e.g.
	// "reset [--dry-run] [--yes] [flags]".
	Usage string
	// Summary says what it does, in a few words.
	Summary string
}

// Service says where one service's configuration comes from.
type Service struct {
	// Name is the program name, used in messages and --help.
	Name string
	// EnvPrefix is prepended to every environment variable, e.g. "PROCESSOR_".
	EnvPrefix string
	// DefaultFile is read when --config is not given, if it exists.
	DefaultFile string
	// Commands are the subcommands, listed by --help.
	Commands []Command
	// Refused are keys the service does not take (see Options.Refused).
	Refused map[string]string
}

// Load fills cfg as the package-level Load does, from the service's YAML
// file, environ (as os.Environ) and args (without the program name); --help
// is written to help (os.Stderr when nil) and returns ErrHelp.
func (s Service) Load(cfg any, args, environ []string, help io.Writer) error {
	return Load(cfg, Options{Service: s.Name, EnvPrefix: s.EnvPrefix, Args: args, Environ: environ,
		DefaultFile: s.DefaultFile, Output: help, Commands: s.Commands, Refused: s.Refused})
}

// EnvName is the environment variable of a key: prefix + upper case path
// with "." as "_".
func EnvName(prefix, key string) string {
	return prefix + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

// isKey tells a configuration key from the other things a Problem can
// name: "--config", "command line".
func isKey(k string) bool {
	return k != "" && !strings.HasPrefix(k, "-") && !strings.Contains(k, " ")
}

type field struct {
	key    string
	usage  string
	value  reflect.Value
	secret bool // tagged secret:"true": never shown, also read from key_file
}

// FileSuffix ends the key (and so the variable and the flag) that names a
// file holding a secret key's value: kafka.sasl.password_file,
// PRODUCER_KAFKA_SASL_PASSWORD_FILE, --kafka.sasl.password_file. This is how
// Docker and Kubernetes secrets, mounted as files, reach the services.
const FileSuffix = "_file"

// EnabledKey is the key that switches a group of keys on (redis.tls.enabled).
// The group itself given a bare value (redis.tls: true, PREFIX_REDIS_TLS=true,
// --redis.tls=true) sets it: so a switch can grow into a group of keys
// without breaking the settings written for the switch.
const EnabledKey = "enabled"

func isMap(raw any) bool {
	_, ok := raw.(map[string]any)
	return ok
}

// hidden replaces a secret's value in messages and --help.
const hidden = "(hidden)"

// Load fills cfg, a pointer to a struct whose current values are the
// defaults, and then calls its Validate method if it has one.
func Load(cfg any, opts Options) error {
	rv := reflect.ValueOf(cfg)
	if rv.Kind() != reflect.Pointer || rv.Elem().Kind() != reflect.Struct {
		return fmt.Errorf("config.Load: want a pointer to a struct, got %T", cfg)
	}
	fields, refused := refuse(collect(rv.Elem(), ""), opts.Refused)
	known := make(map[string]field, len(fields))
	for _, f := range append(fields, refused...) {
		known[f.key] = f
		if f.secret {
			known[f.key+FileSuffix] = field{key: f.key + FileSuffix}
		}
	}

	fs := pflag.NewFlagSet(opts.Service, pflag.ContinueOnError)
	out := opts.Output
	if out == nil {
		out = os.Stderr
	}
	fs.SetOutput(out)
	configFile := fs.String("config", opts.DefaultFile, "YAML configuration file")
	version := fs.Bool("version", false, "print the version, the commit and the Go version, then exit")
	for _, f := range fields {
		addFlag(fs, f.key, typeName(f.value.Type()), fmt.Sprintf("%s (env %s, default %s)", f.usage, EnvName(opts.EnvPrefix, f.key), display(f)))
		if f.secret {
			fk := f.key + FileSuffix
			addFlag(fs, fk, "string", fmt.Sprintf("file holding %s, e.g. a mounted Docker or Kubernetes secret (env %s)", f.key, EnvName(opts.EnvPrefix, fk)))
		}
	}
	for _, f := range fields {
		if group, ok := strings.CutSuffix(f.key, "."+EnabledKey); ok && fs.Lookup(group) == nil {
			addFlag(fs, group, "bool", "same as --"+f.key)
			_ = fs.MarkHidden(group)
		}
	}
	// Refused keys get hidden flags, so that giving one is reported with
	// its reason rather than as an unknown flag.
	for _, f := range refused {
		for _, k := range []string{f.key, f.key + FileSuffix} {
			if k == f.key || f.secret {
				addFlag(fs, k, "string", "refused")
				_ = fs.MarkHidden(k)
			}
		}
	}
	fs.Usage = func() { usage(out, opts, fs) }
	if err := fs.Parse(opts.Args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return ErrHelp
		}
		return &Error{Service: opts.Service, Problems: []Problem{{Key: "command line", Reason: err.Error()}}}
	}
	if *version {
		return ErrVersion
	}
	if fs.NArg() > 0 {
		return &Error{Service: opts.Service, Problems: []Problem{{Key: "command line", Reason: fmt.Sprintf(
			"unexpected argument %q: a flag takes its value after = or as the next argument, but a true/false flag only after = (--redis.tls.enabled=false)%s",
			fs.Arg(0), commandHint(opts))}}}
	}

	var problems []Problem
	v := viper.New()
	if *configFile != "" {
		if _, err := os.Stat(*configFile); err == nil || fs.Changed("config") {
			v.SetConfigFile(*configFile)
			v.SetConfigType("yaml")
			if err := v.ReadInConfig(); err != nil {
				problems = append(problems, Problem{Key: "--config", Reason: fmt.Sprintf("cannot read %s: %v; give the path of a YAML file, or leave --config out to use the defaults", *configFile, err)})
			}
		}
	}
	for _, k := range v.AllKeys() {
		if _, ok := known[k]; !ok && !isParentKey(k, known) {
			problems = append(problems, Problem{Key: k, Reason: fmt.Sprintf("unknown key in %s", *configFile)})
		}
	}
	env := make(map[string]string, len(opts.Environ))
	for _, kv := range opts.Environ {
		if k, val, ok := strings.Cut(kv, "="); ok {
			env[k] = val
		}
	}

	for _, f := range refused {
		for _, k := range []string{f.key, f.key + FileSuffix} {
			if _, source := lookup(k, v, env, fs, *configFile, opts.EnvPrefix); source != "" && (k == f.key || f.secret) {
				problems = append(problems, Problem{Key: k, Reason: fmt.Sprintf("%s; remove it (set %s)", opts.Refused[f.key], source)})
			}
		}
	}
	for _, f := range fields {
		raw, source := lookup(f.key, v, env, fs, *configFile, opts.EnvPrefix)
		if group, ok := strings.CutSuffix(f.key, "."+EnabledKey); ok {
			// A bare value on the group (redis.tls: true) means its enabled
			// key; the explicit key wins at the same level.
			if graw, gsource := lookup(group, v, env, fs, *configFile, opts.EnvPrefix); gsource != "" && !isMap(graw) &&
				(source == "" || level(gsource) > level(source)) {
				raw, source = graw, gsource
			}
		}
		if f.secret {
			// A secret may come from a file instead; at the same level the
			// two are ambiguous, otherwise the higher level wins as usual.
			path, fileSource := lookup(f.key+FileSuffix, v, env, fs, *configFile, opts.EnvPrefix)
			switch {
			case fileSource != "" && source != "" && level(fileSource) == level(source):
				problems = append(problems, Problem{Key: f.key, Reason: fmt.Sprintf("given twice, %s and as a file %s; keep one", source, fileSource)})
				continue
			case fileSource != "" && (source == "" || level(fileSource) > level(source)):
				secret, err := readSecretFile(fmt.Sprint(path))
				if err != nil {
					problems = append(problems, Problem{Key: f.key + FileSuffix, Reason: fmt.Sprintf("%v (%s)", err, fileSource)})
					continue
				}
				raw, source = secret, fileSource
			}
		}
		if source == "" {
			continue
		}
		if err := decode(raw, f.value); err != nil {
			shown := fmt.Sprintf("%q", fmt.Sprint(raw))
			if f.secret {
				shown = hidden
			}
			problems = append(problems, Problem{Key: f.key, Reason: fmt.Sprintf("%v (value %s %s)", err, shown, source)})
		}
	}
	// Validate too, so one message names every bad key; a key whose value
	// did not even parse kept its default and is reported once.
	if vd, ok := cfg.(Validator); ok {
		bad := map[string]bool{}
		for _, p := range problems {
			bad[p.Key] = true
		}
		for _, p := range flatten(vd.Validate()) {
			if !bad[p.Key] {
				problems = append(problems, p)
			}
		}
	}
	if len(problems) > 0 {
		sort.SliceStable(problems, func(i, j int) bool { return problems[i].Key < problems[j].Key })
		return &Error{Service: opts.Service, EnvPrefix: opts.EnvPrefix, Problems: problems}
	}
	return nil
}

// lookup finds a key's value at its highest level: the command line, then
// the environment, then the YAML file; source says where ("" = nowhere).
func lookup(key string, v *viper.Viper, env map[string]string, fs *pflag.FlagSet, file, prefix string) (raw any, source string) {
	if fl := fs.Lookup(key); fl != nil && fl.Changed {
		return fl.Value.String(), "from --" + key
	}
	if val, ok := env[EnvName(prefix, key)]; ok {
		return val, "from " + EnvName(prefix, key)
	}
	if v.IsSet(key) {
		return v.Get(key), "in " + file
	}
	return nil, ""
}

// level orders lookup's sources: the command line beats the environment,
// which beats the file.
func level(source string) int {
	switch {
	case strings.HasPrefix(source, "from --"):
		return 3
	case strings.HasPrefix(source, "from "):
		return 2
	}
	return 1
}

// maxSecretFile bounds what readSecretFile reads: a secret is short, and a
// path pointing at something else should fail, not fill memory.
const maxSecretFile = 64 << 10

// readSecretFile reads a secret from a file, without the line ending that
// editors and `echo` add. Its errors name the file, never the content.
func readSecretFile(path string) (string, error) {
	if path == "" {
		return "", errors.New("empty file name")
	}
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("cannot read the file: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxSecretFile+1))
	if err != nil {
		return "", fmt.Errorf("cannot read %s: %w", path, err)
	}
	if len(b) > maxSecretFile {
		return "", fmt.Errorf("%s is larger than %d bytes: not a secret file", path, maxSecretFile)
	}
	secret := strings.TrimRight(string(b), "\r\n")
	if secret == "" {
		return "", fmt.Errorf("%s is empty", path)
	}
	return secret, nil
}

func isParentKey(k string, known map[string]field) bool {
	for key := range known {
		if strings.HasPrefix(key, k+".") {
			return true
		}
	}
	return false
}

// flatten turns a Validate error into problems: a *Error's own problems,
// and validate's FieldErrors (a *FieldError as its key and reason, joined
// errors one by one, anything else as a problem without a key).
func flatten(err error) []Problem {
	var ce *Error
	if errors.As(err, &ce) {
		return ce.Problems
	}
	var out []Problem
	for _, fe := range validate.Fields(err) {
		out = append(out, Problem{Key: fe.Key, Reason: fe.Reason})
	}
	return out
}

func collect(v reflect.Value, prefix string) []field {
	var out []field
	t := v.Type()
	for i := range t.NumField() {
		sf := t.Field(i)
		if !sf.IsExported() {
			continue
		}
		name, opts, _ := strings.Cut(sf.Tag.Get("mapstructure"), ",")
		fv := v.Field(i)
		if opts == "squash" && sf.Type.Kind() == reflect.Struct {
			// A component's keys spread over several sections: its
			// fields take their keys at this level.
			out = append(out, collect(fv, prefix)...)
			continue
		}
		if name == "" || name == "-" {
			continue
		}
		key := name
		if prefix != "" {
			key = prefix + "." + name
		}
		if sf.Type.Kind() == reflect.Struct && sf.Type != reflect.TypeFor[time.Time]() {
			out = append(out, collect(fv, key)...)
			continue
		}
		out = append(out, field{key: key, usage: sf.Tag.Get("usage"), value: fv, secret: sf.Tag.Get("secret") == "true"})
	}
	return out
}

func display(f field) string {
	if f.secret {
		if f.value.IsZero() {
			return `""`
		}
		return hidden
	}
	switch x := f.value.Interface().(type) {
	case []string:
		return fmt.Sprintf("%q", strings.Join(x, ","))
	case string:
		return fmt.Sprintf("%q", x)
	default:
		return fmt.Sprint(x)
	}
}

var hooks = mapstructure.ComposeDecodeHookFunc(
	mapstructure.StringToTimeDurationHookFunc(),
	stringToTrimmedSlice,
	mapstructure.TextUnmarshallerHookFunc(),
)

func stringToTrimmedSlice(from, to reflect.Type, data any) (any, error) {
	if from.Kind() != reflect.String || to.Kind() != reflect.Slice {
		return data, nil
	}
	s := strings.TrimSpace(data.(string))
	if s == "" {
		return []string{}, nil
	}
	parts := strings.Split(s, ",")
	for i := range parts {
		parts[i] = strings.TrimSpace(parts[i])
	}
	return slices.DeleteFunc(parts, func(p string) bool { return p == "" }), nil
}

// decode converts raw into the field, strictly: "abc" is no number, 1.5 is
// no integer, and a bare number is no duration (it would mean nanoseconds).
func decode(raw any, dst reflect.Value) error {
	if dst.Type() == reflect.TypeFor[time.Duration]() {
		switch raw.(type) {
		case string:
		default:
			return fmt.Errorf("want a duration with a unit, like 500ms, 20s or 1m")
		}
	}
	target := reflect.New(dst.Type())
	dec, err := mapstructure.NewDecoder(&mapstructure.DecoderConfig{
		DecodeHook:       hooks,
		WeaklyTypedInput: true,
		Result:           target.Interface(),
	})
	if err != nil {
		return err
	}
	if err := dec.Decode(raw); err != nil {
		return cleanDecodeError(err, dst.Type())
	}
	dst.Set(target.Elem())
	return nil
}

func cleanDecodeError(err error, t reflect.Type) error {
	switch t.Kind() {
	case reflect.Int, reflect.Int64, reflect.Int32, reflect.Uint, reflect.Uint64, reflect.Uint32:
		if t == reflect.TypeFor[time.Duration]() {
			return fmt.Errorf("want a duration with a unit, like 500ms, 20s or 1m")
		}
		return fmt.Errorf("want a whole number")
	case reflect.Float64, reflect.Float32:
		return fmt.Errorf("want a number")
	case reflect.Bool:
		return fmt.Errorf("want true or false")
	}
	msg := err.Error()
	if i := strings.LastIndex(msg, ": "); i >= 0 {
		msg = msg[i+2:]
	}
	return errors.New(msg)
}
