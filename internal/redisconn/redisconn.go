package redisconn

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/vehicle-stats/vehicle-stats/internal/tlsclient"
	"github.com/vehicle-stats/vehicle-stats/internal/validate"
)

// Config is how to reach Redis, under the keys redis.*.
type Config struct {
	// Addr is host:port; with Cluster, seed nodes, comma-separated.
	Addr string `mapstructure:"addr" usage:"Redis host:port (with redis.cluster: seed nodes, comma-separated)"`
	// Cluster says Addr is a Redis Cluster.
	Cluster bool `mapstructure:"cluster" usage:"Redis is a Redis Cluster"`
	// Username is the ACL user; empty is the default user.
	Username string `mapstructure:"username" usage:"Redis ACL user name (optional)"`
	// Password authenticates Username (or the default user).
	Password string `mapstructure:"password" secret:"true" usage:"Redis password (optional; prefer the _FILE variable: a file holding it)"`
	// DB is the database number; a Cluster has only 0.
	DB int `mapstructure:"db" usage:"Redis database number"`
	// TLS secures the connection.
	TLS TLSConfig `mapstructure:"tls"`
}

// TLSConfig is TLS to Redis. A bare `redis.tls: true` (the key's form
// before it grew) still means Enabled, through internal/config.
type TLSConfig struct {
	// Enabled turns TLS on; without CAFile the system's CAs are trusted.
	Enabled bool `mapstructure:"enabled" usage:"connect to Redis over TLS"`
	// CAFile is a PEM file of the CAs to trust instead of the system's.
	CAFile string `mapstructure:"ca_file" usage:"PEM file of the CA certificates to trust (default: the system's)"`
	// CertFile and KeyFile are this client's certificate and key (PEM),
	// for a Redis with tls-auth-clients yes (its default).
	CertFile string `mapstructure:"cert_file" usage:"PEM file of this client's certificate (Redis requires one unless tls-auth-clients is no)"`
	KeyFile  string `mapstructure:"key_file" usage:"PEM file of this client's private key"`
	// ServerName is the name the server's certificate must hold; empty:
	// the host of Addr.
	ServerName string `mapstructure:"server_name" usage:"name to verify the server's certificate against (default: the host of redis.addr)"`
}

// Validate reports every problem, each under its key below redis.
func (c Config) Validate() error {
	var ch validate.Check
	ch.Require(c.Addr != "", "addr", "must be host:port")
	if c.Addr != "" {
		addrs := strings.Split(c.Addr, ",")
		for i := range addrs {
			addrs[i] = strings.TrimSpace(addrs[i])
		}
		ch.HostPorts("addr", addrs)
	}
	ch.Require(c.DB >= 0, "db", "must be 0 or more")
	ch.Require(!c.Cluster || c.DB == 0, "db", "must be 0 with redis.cluster (a cluster has only database 0)")
	ch.TLSFiles(c.TLS.Enabled, c.TLS.CAFile, c.TLS.CertFile, c.TLS.KeyFile)
	ch.Require(c.TLS.ServerName == "" || c.TLS.Enabled, "tls.server_name", "set, but tls.enabled is false")
	return ch.Err()
}

// Timeouts of every client New makes.
const (
	DialTimeout  = 5 * time.Second
	ReadTimeout  = 3 * time.Second
	WriteTimeout = 3 * time.Second
)

// New returns a client for cfg (a *redis.ClusterClient with Cluster); the
// caller closes it. It does not send CLIENT SETINFO on connect: Redis 7.0
// does not know it, and a least-privilege ACL user need not be allowed it. Its errors that are security refusals are explained
// (see Explain).
func New(cfg Config) (redis.UniversalClient, error) {
	tlsCfg, err := cfg.tlsConfig()
	if err != nil {
		return nil, err
	}
	var rdb redis.UniversalClient
	if cfg.Cluster {
		addrs := strings.Split(cfg.Addr, ",")
		for i := range addrs {
			addrs[i] = strings.TrimSpace(addrs[i])
		}
		rdb = redis.NewClusterClient(&redis.ClusterOptions{
			Addrs: addrs, Username: cfg.Username, Password: cfg.Password, TLSConfig: tlsCfg,
			DialTimeout: DialTimeout, ReadTimeout: ReadTimeout, WriteTimeout: WriteTimeout, DisableIdentity: true,
		})
	} else {
		rdb = redis.NewClient(&redis.Options{
			Addr: cfg.Addr, Username: cfg.Username, Password: cfg.Password, DB: cfg.DB, TLSConfig: tlsCfg,
			DialTimeout: DialTimeout, ReadTimeout: ReadTimeout, WriteTimeout: WriteTimeout, DisableIdentity: true,
		})
	}
	rdb.AddHook(explainHook{})
	return rdb, nil
}

func (c Config) tlsConfig() (*tls.Config, error) {
	if !c.TLS.Enabled {
		return nil, nil
	}
	t := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: c.TLS.ServerName}
	return tlsclient.Load(t, "redis.tls", c.TLS.CAFile, c.TLS.CertFile, c.TLS.KeyFile)
}

// ErrRefused is what every *RefusedError is (errors.Is): Redis refused the
// connection or a command for a security reason.
var ErrRefused = errors.New("refused by redis")

// RefusedError is a refusal by Redis for a security reason, with the
// configuration keys to fix; errors.Is(err, ErrRefused) holds for it.
type RefusedError = tlsclient.Refusal

// Section is the services' configuration section of a Config: its keys
// are redis.addr, redis.tls.* and so on.
const Section = "redis"

// conf only gives the advice its fields' keys (see keys).
var conf Config

// keys names fields of conf in full, from their tags: redis.tls.ca_file.
func keys(fields ...any) string {
	return Section + "." + strings.ReplaceAll(validate.Keys(&conf, fields...), ", ", ", "+Section+".")
}

// tlsAdvice names the keys to fix for each failed TLS handshake.
var tlsAdvice = map[tlsclient.Failure]tlsclient.Advice{
	tlsclient.UnknownCA: {Keys: keys(&conf.TLS.CAFile), Reason: "Redis's certificate is not signed by a CA this client trusts; set " +
		keys(&conf.TLS.CAFile) + " to the CA that signed it"},
	tlsclient.WrongHost: {Keys: keys(&conf.TLS.ServerName), Reason: "Redis's certificate is not valid for the name checked; set " +
		keys(&conf.TLS.ServerName) + " to a name it holds, or address Redis by one in " + keys(&conf.Addr)},
	tlsclient.InvalidCert: {Keys: keys(&conf.TLS.CAFile), Reason: "Redis's certificate is not valid (expired, or not for a server)"},
	tlsclient.PlainServer: {Keys: keys(&conf.TLS.Enabled), Reason: "Redis does not speak TLS on this address; turn " +
		keys(&conf.TLS.Enabled) + " off or use its tls-port"},
	tlsclient.ClientRefused: {Keys: keys(&conf.TLS.CertFile, &conf.TLS.KeyFile), Reason: "Redis refused the TLS handshake; it needs a client certificate signed by a CA it trusts (tls-auth-clients)"},
}

// Explain returns err as a *RefusedError naming the keys to fix when it is
// a TLS, authentication or ACL refusal, and err unchanged otherwise.
func Explain(err error) error {
	if err == nil || errors.Is(err, ErrRefused) {
		return err
	}
	if r := tlsclient.Explain(err, ErrRefused, tlsAdvice); r != nil {
		return r
	}
	refused := func(keys, reason string) error {
		return &RefusedError{Kind: ErrRefused, Keys: keys, Reason: reason, Err: err}
	}
	switch msg := err.Error(); {
	case strings.HasPrefix(msg, "WRONGPASS"), strings.HasPrefix(msg, "NOAUTH"), strings.Contains(msg, "invalid username-password pair"):
		return refused(keys(&conf.Username, &conf.Password), "Redis rejected the user or password")
	case strings.HasPrefix(msg, "NOPERM"):
		return refused(keys(&conf.Username), "the ACL user lacks a permission the processor needs (a command, or keys outside redis.key_prefix); docs/configuration.md gives the ACL rule")
	}
	return err
}

// explainHook explains the client's errors (see Explain) on single
// commands and pipelines alike.
type explainHook struct{}

func (explainHook) DialHook(next redis.DialHook) redis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := next(ctx, network, addr)
		return conn, Explain(err)
	}
}

func (explainHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		return Explain(next(ctx, cmd))
	}
}

func (explainHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		return Explain(next(ctx, cmds))
	}
}
