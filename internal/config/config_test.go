package config_test

import (
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/vehicle-stats/vehicle-stats/internal/config"
	"github.com/vehicle-stats/vehicle-stats/internal/config/configtest"
	"github.com/vehicle-stats/vehicle-stats/internal/validate"
)

type kafkaConfig struct {
	Brokers []string `mapstructure:"brokers" usage:"bootstrap brokers"`
	Topic   string   `mapstructure:"topic"`
}

type testConfig struct {
	Kafka  kafkaConfig   `mapstructure:"kafka"`
	Rate   float64       `mapstructure:"rate"`
	Count  int64         `mapstructure:"count"`
	Window time.Duration `mapstructure:"window"`
	Debug  bool          `mapstructure:"debug"`
}

func (c *testConfig) Validate() error {
	var chk validate.Check
	chk.Require(c.Rate >= 0, "rate", "must be 0 or more")
	chk.Require(len(c.Kafka.Brokers) > 0, "kafka.brokers", "must name at least one broker")
	return chk.Err()
}

func defaults() *testConfig {
	return &testConfig{Kafka: kafkaConfig{Brokers: []string{"localhost:9092"}, Topic: "t"}, Rate: 0.5, Window: 20 * time.Second}
}

func writeYAML(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadPriority(t *testing.T) {
	file := writeYAML(t, "kafka:\n  brokers: [a:1, b:2]\n  topic: from-file\nrate: 2\nwindow: 30s\n")
	cfg := defaults()
	err := config.Load(cfg, config.Options{
		Service: "svc", EnvPrefix: "SVC_",
		Args:    []string{"--config", file, "--count=7"},
		Environ: []string{"SVC_KAFKA_TOPIC=from-env", "SVC_RATE=3.5", "OTHER=1"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(cfg.Kafka.Brokers, ","); got != "a:1,b:2" {
		t.Errorf("brokers from file = %q", got)
	}
	if cfg.Kafka.Topic != "from-env" || cfg.Rate != 3.5 || cfg.Count != 7 || cfg.Window != 30*time.Second {
		t.Errorf("got %+v", cfg)
	}
}

func TestLoadEnvList(t *testing.T) {
	cfg := defaults()
	if err := config.Load(cfg, config.Options{Service: "svc", EnvPrefix: "SVC_", Environ: []string{"SVC_KAFKA_BROKERS= x:1 , y:2 "}}); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(cfg.Kafka.Brokers, "|"); got != "x:1|y:2" {
		t.Errorf("brokers = %q", got)
	}
}

func TestLoadNamesEveryBadKey(t *testing.T) {
	file := writeYAML(t, "kafka:\n  topik: x\nwindow: 20\n")
	cfg := defaults()
	err := config.Load(cfg, config.Options{
		Service: "svc", EnvPrefix: "SVC_",
		Args:    []string{"--config", file, "--debug=maybe"},
		Environ: []string{"SVC_RATE=fast", "SVC_COUNT=1.5"},
	})
	var ce *config.Error
	if !errors.As(err, &ce) {
		t.Fatalf("want *config.Error, got %v", err)
	}
	msg := err.Error()
	for _, want := range []string{"kafka.topik", "unknown key", "window (SVC_WINDOW)", "duration", "rate (SVC_RATE)", "count (SVC_COUNT)", "debug (SVC_DEBUG)"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message lacks %q:\n%s", want, msg)
		}
	}
	if len(ce.Problems) != 5 {
		t.Errorf("want 5 problems, got %d:\n%s", len(ce.Problems), msg)
	}
}

func TestLoadRunsValidate(t *testing.T) {
	cfg := defaults()
	err := config.Load(cfg, config.Options{Service: "svc", EnvPrefix: "SVC_", Environ: []string{"SVC_RATE=-1", "SVC_KAFKA_BROKERS="}})
	if err == nil || !strings.Contains(err.Error(), "rate (SVC_RATE): must be 0 or more") || !strings.Contains(err.Error(), "kafka.brokers (SVC_KAFKA_BROKERS)") {
		t.Fatalf("got %v", err)
	}
}

func TestLoadMissingExplicitFile(t *testing.T) {
	err := config.Load(defaults(), config.Options{Service: "svc", Args: []string{"--config", "/nonexistent.yaml"}})
	if err == nil || !strings.Contains(err.Error(), "/nonexistent.yaml") {
		t.Fatalf("got %v", err)
	}
	// A missing default file is fine: defaults apply.
	if err := config.Load(defaults(), config.Options{Service: "svc", DefaultFile: "/nonexistent.yaml"}); err != nil {
		t.Fatal(err)
	}
}

func TestLoadHelp(t *testing.T) {
	var out strings.Builder
	err := config.Load(defaults(), config.Options{Service: "svc", EnvPrefix: "SVC_", Args: []string{"--help"}, Output: &out})
	if !errors.Is(err, config.ErrHelp) {
		t.Fatalf("got %v", err)
	}
	if !strings.Contains(out.String(), "--kafka.brokers") || !strings.Contains(out.String(), "SVC_KAFKA_BROKERS") {
		t.Errorf("usage lacks keys:\n%s", out.String())
	}
}

func TestServiceLoad(t *testing.T) {
	cfg := defaults()
	svc := config.Service{Name: "svc", EnvPrefix: "SVC_", DefaultFile: "/nonexistent.yaml"}
	if err := svc.Load(cfg, []string{"--count=3"}, []string{"SVC_RATE=2"}, nil); err != nil {
		t.Fatal(err)
	}
	if cfg.Count != 3 || cfg.Rate != 2 {
		t.Errorf("got %+v", cfg)
	}
	var out strings.Builder
	if err := svc.Load(defaults(), []string{"--help"}, nil, &out); !errors.Is(err, config.ErrHelp) || !strings.Contains(out.String(), "SVC_RATE") {
		t.Errorf("--help: %v\n%s", err, out.String())
	}
}

type secretConfig struct {
	User     string `mapstructure:"user"`
	Password string `mapstructure:"password" secret:"true" usage:"the password"`
	Retries  int    `mapstructure:"retries" secret:"true"`
}

func TestSecretFromFile(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "pw")
	if err := os.WriteFile(file, []byte("s3cret from file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	load := func(args, env []string, yaml string) (secretConfig, error) {
		var c secretConfig
		opts := config.Options{Service: "svc", EnvPrefix: "SVC_", Args: args, Environ: env}
		if yaml != "" {
			opts.Args = append(opts.Args, "--config", writeYAML(t, yaml))
		}
		err := config.Load(&c, opts)
		return c, err
	}
	for name, tc := range map[string]struct {
		args []string
		env  []string
		yaml string
		want string
	}{
		"env file":                  {env: []string{"SVC_PASSWORD_FILE=" + file}, want: "s3cret from file"},
		"flag file":                 {args: []string{"--password_file=" + file}, want: "s3cret from file"},
		"yaml file":                 {yaml: "password_file: " + file + "\n", want: "s3cret from file"},
		"env value beats yaml file": {env: []string{"SVC_PASSWORD=direct"}, yaml: "password_file: " + file + "\n", want: "direct"},
		"env file beats yaml value": {env: []string{"SVC_PASSWORD_FILE=" + file}, yaml: "password: inline\n", want: "s3cret from file"},
	} {
		c, err := load(tc.args, tc.env, tc.yaml)
		if err != nil || c.Password != tc.want {
			t.Errorf("%s: password %q, %v; want %q", name, c.Password, err, tc.want)
		}
	}

	// Both at one level, a missing file, an empty file: each names the key,
	// none shows a secret.
	empty := filepath.Join(dir, "empty")
	_ = os.WriteFile(empty, []byte("\n"), 0o600)
	for name, env := range map[string][]string{
		"both":    {"SVC_PASSWORD=direct-secret", "SVC_PASSWORD_FILE=" + file},
		"missing": {"SVC_PASSWORD_FILE=" + filepath.Join(dir, "nope")},
		"empty":   {"SVC_PASSWORD_FILE=" + empty},
	} {
		_, err := load(nil, env, "")
		if err == nil || !strings.Contains(err.Error(), "password") {
			t.Errorf("%s: %v, want an error naming the key", name, err)
			continue
		}
		if strings.Contains(err.Error(), "direct-secret") || strings.Contains(err.Error(), "s3cret") {
			t.Errorf("%s: the error shows the secret: %v", name, err)
		}
	}

	// A secret that does not parse is named without its value.
	_, err := load(nil, []string{"SVC_RETRIES=not-a-number-secret"}, "")
	if err == nil || !strings.Contains(err.Error(), "retries (SVC_RETRIES)") || strings.Contains(err.Error(), "not-a-number-secret") {
		t.Errorf("bad secret value: %v", err)
	}
}

func TestHelpHidesSecrets(t *testing.T) {
	c := secretConfig{Password: "default-secret"}
	var out strings.Builder
	err := config.Load(&c, config.Options{Service: "svc", EnvPrefix: "SVC_", Args: []string{"--help"}, Output: &out})
	if !errors.Is(err, config.ErrHelp) {
		t.Fatal(err)
	}
	if strings.Contains(out.String(), "default-secret") || !strings.Contains(out.String(), "--password_file") ||
		!strings.Contains(out.String(), "SVC_PASSWORD_FILE") {
		t.Errorf("--help:\n%s", out.String())
	}
}

type tlsGroup struct {
	Enabled bool   `mapstructure:"enabled"`
	CAFile  string `mapstructure:"ca_file"`
}

type ConnConfig struct {
	Addr string   `mapstructure:"addr"`
	TLS  tlsGroup `mapstructure:"tls"`
}

type groupConfig struct {
	Redis struct {
		ConnConfig `mapstructure:",squash"`
		KeyPrefix  string `mapstructure:"key_prefix"`
	} `mapstructure:"redis"`
}

func TestSquashAndBareEnabled(t *testing.T) {
	load := func(args, env []string, yaml string) (groupConfig, error) {
		var c groupConfig
		opts := config.Options{Service: "svc", EnvPrefix: "SVC_", Args: args, Environ: env}
		if yaml != "" {
			opts.Args = append(opts.Args, "--config", writeYAML(t, yaml))
		}
		err := config.Load(&c, opts)
		return c, err
	}
	c, err := load(nil, []string{"SVC_REDIS_ADDR=r:6379", "SVC_REDIS_KEY_PREFIX=p"}, "")
	if err != nil || c.Redis.Addr != "r:6379" || c.Redis.KeyPrefix != "p" {
		t.Fatalf("squashed keys: %+v, %v", c.Redis, err)
	}
	for name, tc := range map[string]struct {
		args []string
		env  []string
		yaml string
		want bool
	}{
		"yaml bare":               {yaml: "redis:\n  tls: true\n", want: true},
		"yaml group":              {yaml: "redis:\n  tls:\n    enabled: true\n", want: true},
		"env bare":                {env: []string{"SVC_REDIS_TLS=true"}, want: true},
		"flag bare":               {args: []string{"--redis.tls=true"}, want: true},
		"explicit wins at level":  {env: []string{"SVC_REDIS_TLS=true", "SVC_REDIS_TLS_ENABLED=false"}, want: false},
		"env bare beats yaml key": {env: []string{"SVC_REDIS_TLS=false"}, yaml: "redis:\n  tls:\n    enabled: true\n", want: false},
	} {
		c, err := load(tc.args, tc.env, tc.yaml)
		if err != nil || c.Redis.TLS.Enabled != tc.want {
			t.Errorf("%s: enabled=%v, %v; want %v", name, c.Redis.TLS.Enabled, err, tc.want)
		}
	}
	if _, err := load(nil, []string{"SVC_REDIS_TLS=maybe"}, ""); err == nil || !strings.Contains(err.Error(), "redis.tls.enabled") {
		t.Errorf("bad bare value: %v", err)
	}
}

// A variable with the service's prefix that sets no key is reported with
// the nearest key (Load ignores it); the known ones, their _FILE and group
// variables, and other prefixes are not.
func TestUnknownEnv(t *testing.T) {
	type secretConfig struct {
		Password string `mapstructure:"password" secret:"true"`
		TLS      struct {
			Enabled bool `mapstructure:"enabled"`
		} `mapstructure:"tls"`
	}
	type cfg struct {
		Base  testConfig   `mapstructure:",squash"`
		Redis secretConfig `mapstructure:"redis"`
	}
	environ := []string{
		"SVC_KAFKA_BROKER=a:1",        // a typo
		"SVC_RATE=1",                  // known
		"SVC_REDIS_PASSWORD_FILE=/s",  // a secret's file
		"SVC_REDIS_TLS=true",          // a group's switch
		"SVC_PORT=tcp://10.0.0.1:80",  // Kubernetes' service link
		"SVC_WINDOW_SIZE=20s",         // a nested key that does not exist
		"OTHER_KAFKA_BROKER=x",        // not ours
		"SVC_KAFKA_TOPICS",            // no value at all
		"SVC_REDIS_TLS_ENABLED=false", // known
	}
	got := config.UnknownEnv(&cfg{}, "SVC_", environ)
	want := []config.UnknownVar{
		{Name: "SVC_KAFKA_BROKER", Nearest: "kafka.brokers"},
		{Name: "SVC_KAFKA_TOPICS", Nearest: "kafka.topic"},
		{Name: "SVC_PORT", Nearest: "count"},
		{Name: "SVC_WINDOW_SIZE", Nearest: "window"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
	// Logged as warnings naming the variable and the nearest key.
	configtest.Warns(t, func(log *slog.Logger) {
		config.Service{Name: "svc", EnvPrefix: "SVC_"}.WarnUnknownEnv(log, defaults(), []string{"SVC_KAFKA_BROKER=a:1", "SVC_RATE=1"})
	}, []string{"unknown environment variable", "variable=SVC_KAFKA_BROKER", "nearest_key=kafka.brokers", "nearest_variable=SVC_KAFKA_BROKERS"})
}

// Flags are typed: a true/false flag works bare and never takes the next
// argument as its value, and --help names each flag's type.
func TestFlagsTyped(t *testing.T) {
	cfg := defaults()
	err := config.Load(cfg, config.Options{Service: "svc", EnvPrefix: "SVC_", Args: []string{"--debug", "--window", "30s", "--count=3"}})
	if err != nil || !cfg.Debug || cfg.Window != 30*time.Second || cfg.Count != 3 {
		t.Fatalf("bare bool: %+v, %v", cfg, err)
	}
	cfg = defaults()
	cfg.Debug = true
	if err := config.Load(cfg, config.Options{Service: "svc", Args: []string{"--debug=false"}}); err != nil || cfg.Debug {
		t.Errorf("--debug=false: %v, %v", cfg.Debug, err)
	}
	// A value after a bare bool is no value of it: an error, not a
	// silently ignored word.
	err = config.Load(defaults(), config.Options{Service: "svc", Args: []string{"--debug", "false"}})
	if err == nil || !strings.Contains(err.Error(), `unexpected argument "false"`) || !strings.Contains(err.Error(), "--redis.tls.enabled=false") {
		t.Errorf("--debug false: %v", err)
	}

	var out strings.Builder
	if err := config.Load(defaults(), config.Options{Service: "svc", Args: []string{"--help"}, Output: &out}); !errors.Is(err, config.ErrHelp) {
		t.Fatal(err)
	}
	for _, want := range []string{"--window duration ", "--count int ", "--rate float ", "--kafka.brokers strings ", "--kafka.topic string ", "--debug    "} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("--help lacks %q:\n%s", want, out.String())
		}
	}
}

// A group's bare switch is a flag too: --redis.tls alone turns TLS on.
func TestBareGroupFlag(t *testing.T) {
	var c groupConfig
	if err := config.Load(&c, config.Options{Service: "svc", Args: []string{"--redis.tls", "--redis.addr=r:1"}}); err != nil || !c.Redis.TLS.Enabled || c.Redis.Addr != "r:1" {
		t.Errorf("--redis.tls: %+v, %v", c.Redis, err)
	}
	c = groupConfig{}
	if err := config.Load(&c, config.Options{Service: "svc", Args: []string{"--redis.tls.enabled"}}); err != nil || !c.Redis.TLS.Enabled {
		t.Errorf("--redis.tls.enabled: %+v, %v", c.Redis, err)
	}
}

func TestVersion(t *testing.T) {
	err := config.Load(defaults(), config.Options{Service: "svc", Args: []string{"--count=nope", "--version"}})
	if !errors.Is(err, config.ErrVersion) {
		t.Errorf("--version: %v, want ErrVersion", err)
	}
	line := config.VersionLine("svc", "v1.2.3", "abc1234")
	for _, want := range []string{"svc v1.2.3", "commit abc1234", runtime.Version()} {
		if !strings.Contains(line, want) {
			t.Errorf("%q lacks %q", line, want)
		}
	}
	if line := config.VersionLine("svc", "dev", ""); !strings.Contains(line, "commit ") || strings.Contains(line, "commit ,") {
		t.Errorf("no stamped commit: %q", line)
	}
}

func TestHelpListsCommands(t *testing.T) {
	var out strings.Builder
	err := config.Service{Name: "svc", EnvPrefix: "SVC_", Commands: []config.Command{{Usage: "reset [--yes] [flags]", Summary: "forget everything"}}}.
		Load(defaults(), []string{"--help"}, nil, &out)
	if !errors.Is(err, config.ErrHelp) {
		t.Fatal(err)
	}
	for _, want := range []string{"Usage: svc [flags]\n       svc reset [--yes] [flags]\n", "forget everything", "--version", "--config string"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("--help lacks %q:\n%s", want, out.String())
		}
	}
}

// --config is a flag, not a key: no environment variable is made up for it.
func TestConfigFlagNamed(t *testing.T) {
	err := config.Load(defaults(), config.Options{Service: "svc", EnvPrefix: "SVC_", Args: []string{"--config", "/nonexistent.yaml"}})
	if err == nil || !strings.Contains(err.Error(), "\n  --config: cannot read /nonexistent.yaml") || strings.Contains(err.Error(), "SVC_--") {
		t.Errorf("got %v", err)
	}
}

// A refused key is reported wherever it is set, with the reason, and is
// not in --help.
func TestRefusedKeys(t *testing.T) {
	type cfg struct {
		Token string `mapstructure:"token" secret:"true"`
		Limit int    `mapstructure:"limit"`
		Addr  string `mapstructure:"addr"`
	}
	svc := config.Service{Name: "svc", EnvPrefix: "SVC_", Refused: map[string]string{"token": "svc has no admin endpoints", "limit": "svc reads no bodies"}}
	for name, tc := range map[string]struct {
		args, env []string
		yaml      string
		key       string
	}{
		"yaml":     {yaml: "token: 0123456789abcdef0\n", key: "token"},
		"env":      {env: []string{"SVC_TOKEN=0123456789abcdef0"}, key: "token"},
		"env file": {env: []string{"SVC_TOKEN_FILE=/run/secrets/t"}, key: "token_file"},
		"flag":     {args: []string{"--limit=5"}, key: "limit"},
	} {
		args := tc.args
		if tc.yaml != "" {
			args = append(args, "--config", writeYAML(t, tc.yaml))
		}
		err := svc.Load(&cfg{}, args, tc.env, nil)
		configtest.Names(t, err, tc.key)
		if err != nil && !strings.Contains(err.Error(), "svc has no admin endpoints") && !strings.Contains(err.Error(), "svc reads no bodies") {
			t.Errorf("%s: no reason: %v", name, err)
		}
	}
	if err := svc.Load(&cfg{}, []string{"--addr=:1"}, nil, nil); err != nil {
		t.Errorf("other keys: %v", err)
	}
	var out strings.Builder
	_ = svc.Load(&cfg{}, []string{"--help"}, nil, &out)
	if strings.Contains(out.String(), "token") || strings.Contains(out.String(), "limit") || !strings.Contains(out.String(), "--addr") {
		t.Errorf("--help:\n%s", out.String())
	}
}
