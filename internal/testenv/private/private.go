package private

import (
	"context"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha512"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl/scram"

	"github.com/vehicle-stats/vehicle-stats/internal/testenv"
	"github.com/vehicle-stats/vehicle-stats/internal/testenv/proc"
	"github.com/vehicle-stats/vehicle-stats/internal/testenv/scratch"
)

// Server is a Kafka broker or Redis server of a test's own, run by
// deploy/local/stack.sh in a temporary folder on free ports, for tests that
// stop, kill and restart it without disturbing other tests.
type Server struct {
	// Addr is 127.0.0.1:port.
	Addr string
	// SASLAddr is the SASL/PLAIN listener of a StartKafkaSASL broker,
	// which accepts SASLUser with SASLPassword.
	SASLAddr, SASLUser, SASLPassword string
	kind                             string
	env                              []string
}

// StartKafka starts a broker for this test alone and removes it when the
// test ends. Skipped where the local stack cannot run (no Java), and under
// -short.
func StartKafka(t testing.TB) *Server {
	return startServer(t, "kafka", nil, "VS_KAFKA_PORT", "VS_KAFKA_CONTROLLER_PORT")
}

// StartKafkaSASL starts a broker of the test's own with a second
// listener that requires SASL/PLAIN (see Server.SASLAddr).
func StartKafkaSASL(t testing.TB) *Server {
	t.Helper()
	port := testenv.Port(t)
	return startServer(t, "kafka", []string{
		fmt.Sprintf("VS_KAFKA_SASL_PORT=%d", port), "VS_KAFKA_SASL_USER=vs-test", "VS_KAFKA_SASL_PASSWORD=vs-test-secret",
	}, "VS_KAFKA_PORT", "VS_KAFKA_CONTROLLER_PORT")
}

// KafkaProxied is a private broker with a listener that clients reach
// through a network fault proxy (StartKafkaProxied).
type KafkaProxied struct {
	*Server
	// Upstream is where the proxy forwards to: the broker's proxied
	// listener.
	Upstream string
	// ProxyAddr is where the proxy must listen: the address the broker
	// advertises on that listener, so every connection a client opens
	// after the first (kafka-go dials the leaders it learns from
	// metadata) goes through the proxy too.
	ProxyAddr string
}

// StartKafkaProxied starts a broker for this test alone with a second
// plaintext listener advertised at ProxyAddr; the test runs a proxy there
// (Toxiproxy) that forwards to Upstream. Server.Addr stays direct, for the
// test's own setup and checks.
func StartKafkaProxied(t testing.TB) *KafkaProxied {
	t.Helper()
	up, adv := testenv.Port(t), testenv.Port(t)
	return &KafkaProxied{
		Server: startServer(t, "kafka", []string{
			fmt.Sprintf("VS_KAFKA_PROXIED_PORT=%d", up), fmt.Sprintf("VS_KAFKA_PROXIED_ADVERTISED_PORT=%d", adv),
		}, "VS_KAFKA_PORT", "VS_KAFKA_CONTROLLER_PORT"),
		Upstream:  fmt.Sprintf("127.0.0.1:%d", up),
		ProxyAddr: fmt.Sprintf("127.0.0.1:%d", adv),
	}
}

// KafkaTLS is a private broker with TLS listeners, made by StartKafkaTLS.
// Its plaintext listener (Server.Addr) is for the test's own setup and
// checks.
type KafkaTLS struct {
	*Server
	// PKI is the CA that signed the broker's and the client's certificates.
	PKI *PKI
	// SSLAddr is an SSL listener: the client verifies the broker.
	SSLAddr string
	// MTLSAddr is an SSL listener that requires a client certificate signed
	// by PKI (Client will do).
	MTLSAddr string
	// SASLSSLAddr is a SASL_SSL listener that accepts SCRAM-SHA-512 as
	// ScramUser with ScramPassword.
	SASLSSLAddr, ScramUser, ScramPassword string
	// Client is a client certificate signed by PKI.
	Client Cert
}

// StartKafkaTLS starts a broker of the test's own with an SSL, a mutual
// TLS and a SASL_SSL (SCRAM-SHA-512) listener, all on 127.0.0.1 with a
// certificate valid for that address only (so "localhost" is a host-name
// mismatch), signed by a CA made for the test. The SCRAM user is created
// through the admin API, as an operator would with kafka-configs.
func StartKafkaTLS(t testing.TB) *KafkaTLS {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test skipped under -short")
	}
	pki := NewPKI(t, "kafka-test")
	server := pki.Issue(t, "kafka-broker", "127.0.0.1")
	k := &KafkaTLS{PKI: pki, Client: pki.Issue(t, "kafka-client"), ScramUser: "vs-scram", ScramPassword: "vs-scram-" + scratch.UniqueName("pw")}
	ssl, mtls, saslSSL := testenv.Port(t), testenv.Port(t), testenv.Port(t)
	k.SSLAddr = fmt.Sprintf("127.0.0.1:%d", ssl)
	k.MTLSAddr = fmt.Sprintf("127.0.0.1:%d", mtls)
	k.SASLSSLAddr = fmt.Sprintf("127.0.0.1:%d", saslSSL)
	k.Server = startServer(t, "kafka", []string{
		"VS_KAFKA_SSL_CERT=" + server.CertFile, "VS_KAFKA_SSL_KEY=" + server.KeyFile, "VS_KAFKA_SSL_CA=" + pki.CAFile,
		fmt.Sprintf("VS_KAFKA_SSL_PORT=%d", ssl), fmt.Sprintf("VS_KAFKA_MTLS_PORT=%d", mtls), fmt.Sprintf("VS_KAFKA_SASL_SSL_PORT=%d", saslSSL),
	}, "VS_KAFKA_PORT", "VS_KAFKA_CONTROLLER_PORT")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := k.addScramUser(ctx); err != nil {
		t.Fatalf("SCRAM user on the private broker: %v", err)
	}
	return k
}

// addScramUser creates the SCRAM-SHA-512 user through the admin API on the
// plaintext listener, then waits until a SCRAM login on the SASL_SSL
// listener succeeds (the broker applies the credential asynchronously).
func (k *KafkaTLS) addScramUser(ctx context.Context) error {
	const iterations = 4096
	salt := make([]byte, 32)
	if _, err := rand.Read(salt); err != nil {
		return err
	}
	salted, err := pbkdf2.Key(sha512.New, k.ScramPassword, salt, iterations, sha512.Size)
	if err != nil {
		return err
	}
	c := &kafka.Client{Addr: kafka.TCP(k.Addr), Timeout: 10 * time.Second}
	resp, err := c.AlterUserScramCredentials(ctx, &kafka.AlterUserScramCredentialsRequest{Upsertions: []kafka.UserScramCredentialsUpsertion{{
		Name: k.ScramUser, Mechanism: kafka.ScramMechanismSha512, Iterations: iterations, Salt: salt, SaltedPassword: salted,
	}}})
	if err != nil {
		return fmt.Errorf("alter SCRAM credentials: %w", err)
	}
	for _, r := range resp.Results {
		if r.Error != nil {
			return fmt.Errorf("alter SCRAM credentials of %s: %w", r.User, r.Error)
		}
	}
	ca, err := os.ReadFile(k.PKI.CAFile)
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	mech, err := scram.Mechanism(scram.SHA512, k.ScramUser, k.ScramPassword)
	if err != nil {
		return err
	}
	d := &kafka.Dialer{Timeout: 5 * time.Second, TLS: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, SASLMechanism: mech}
	for {
		conn, err := d.DialContext(ctx, "tcp", k.SASLSSLAddr)
		if err == nil {
			return conn.Close()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("SCRAM login as %s still fails: %w", k.ScramUser, err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// RedisTLS is a private Redis with a TLS port, made by StartRedisTLS. Its
// plain port (Server.Addr) answers as the default user, for the test's own
// setup and checks.
type RedisTLS struct {
	*Server
	// TLSAddr is the TLS port; Redis requires a client certificate signed
	// by PKI there (Client will do).
	TLSAddr string
	// ServerName is the only name in Redis's certificate (no IP address):
	// a client must verify against it (redis.tls.server_name).
	ServerName string
	// PKI is the CA of the server's and the client's certificates.
	PKI *PKI
	// Client is a client certificate signed by PKI.
	Client Cert
}

// StartRedisTLS starts a Redis of the test's own with a TLS port beside
// its plain one.
func StartRedisTLS(t testing.TB) *RedisTLS {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test skipped under -short")
	}
	pki := NewPKI(t, "redis-test")
	r := &RedisTLS{PKI: pki, ServerName: "redis.vehicle-stats.test", Client: pki.Issue(t, "redis-client")}
	server := pki.Issue(t, "redis-server", r.ServerName)
	port := testenv.Port(t)
	r.TLSAddr = fmt.Sprintf("127.0.0.1:%d", port)
	r.Server = startServer(t, "redis", []string{
		fmt.Sprintf("VS_REDIS_TLS_PORT=%d", port),
		"VS_REDIS_TLS_CERT=" + server.CertFile, "VS_REDIS_TLS_KEY=" + server.KeyFile, "VS_REDIS_TLS_CA=" + pki.CAFile,
	}, "VS_REDIS_PORT")
	return r
}

// StartRedis starts a Redis server (AOF on) for this test alone.
func StartRedis(t testing.TB) *Server {
	return startServer(t, "redis", nil, "VS_REDIS_PORT")
}

func startServer(t testing.TB, kind string, extraEnv []string, portVars ...string) *Server {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test skipped under -short")
	}
	if _, err := exec.LookPath("java"); kind == "kafka" && err != nil {
		t.Skip("private Kafka needs Java 17 or later (deploy/local/stack.sh runs Kafka's distribution); install it (Debian: apt-get install openjdk-17-jre-headless)")
	}
	p := &Server{kind: kind, env: append(os.Environ(), "VS_LOCAL_DIR="+t.TempDir(), "VS_KAFKA_HEAP=512m")}
	p.env = append(p.env, extraEnv...)
	for _, kv := range extraEnv {
		if v, ok := strings.CutPrefix(kv, "VS_KAFKA_SASL_PORT="); ok {
			p.SASLAddr = "127.0.0.1:" + v
		}
		if v, ok := strings.CutPrefix(kv, "VS_KAFKA_SASL_USER="); ok {
			p.SASLUser = v
		}
		if v, ok := strings.CutPrefix(kv, "VS_KAFKA_SASL_PASSWORD="); ok {
			p.SASLPassword = v
		}
	}
	for i, v := range portVars {
		port := testenv.Port(t)
		p.env = append(p.env, fmt.Sprintf("%s=%d", v, port))
		if i == 0 {
			p.Addr = fmt.Sprintf("127.0.0.1:%d", port)
		}
	}
	p.Start(t)
	t.Cleanup(func() { p.run(t, kind+"-stop") })
	return p
}

// Start starts (or restarts) the process and waits until it is ready.
func (p *Server) Start(t testing.TB) { t.Helper(); p.run(t, p.kind+"-start") }

// Stop stops the process gracefully (SIGTERM) and waits for it to exit.
func (p *Server) Stop(t testing.TB) { t.Helper(); p.run(t, p.kind+"-stop") }

func (p *Server) run(t testing.TB, cmd string) {
	t.Helper()
	c := exec.Command(filepath.Join(proc.RepoRoot(t), "deploy", "local", "stack.sh"), cmd)
	c.Env = p.env
	if out, err := c.CombinedOutput(); err != nil {
		t.Fatalf("stack.sh %s: %v\n%s", cmd, err, out)
	}
}

// RedisCluster is a private Redis Cluster of a test (StartRedisCluster).
type RedisCluster struct {
	// Addrs are every node's address, masters and replicas.
	Addrs []string
	procs map[string]*exec.Cmd
}

// StartRedisCluster starts a Redis Cluster of three masters with replicas
// replicas each, for this test alone; the servers are stopped when the test
// ends. Nodes time out after 2 s, so a replica takes over from a killed
// master within seconds (KillMasterOf).
func StartRedisCluster(t testing.TB, replicas int) *RedisCluster {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test skipped under -short")
	}
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Skip("Redis Cluster needs redis-server and redis-cli; install them (Debian: apt-get install redis-server)")
	}
	dir := t.TempDir()
	c := &RedisCluster{procs: map[string]*exec.Cmd{}}
	for range 3 * (1 + replicas) {
		addr, cmd := startClusterNode(t, dir)
		c.Addrs = append(c.Addrs, addr)
		c.procs[addr] = cmd
	}
	args := append([]string{"--cluster", "create"}, c.Addrs...)
	args = append(args, "--cluster-replicas", fmt.Sprint(replicas), "--cluster-yes")
	if out, err := exec.Command("redis-cli", args...).CombinedOutput(); err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	c.waitOK(t, c.Addrs)
	return c
}

// startClusterNode starts one cluster node in dir and waits until it
// accepts connections. A node listens on two ports: its data port and its
// cluster bus port. Redis's default bus port is the data port + 10000,
// which for most data ports below the ephemeral range lies inside it, where
// any outgoing connection can hold it and redis-server exits at start. So
// both are chosen apart below the ephemeral range (FreePorts) and the bus
// port is set explicitly (cluster-port, Redis 7). A node that still does not
// come up (another server took a port between the check and the bind) is
// tried again on new ports; the last failure carries the node's log.
func startClusterNode(t testing.TB, dir string) (string, *exec.Cmd) {
	t.Helper()
	var failure string
	for range 3 {
		port, bus := testenv.Port(t), testenv.Port(t)
		if port == bus {
			continue
		}
		addr := fmt.Sprintf("127.0.0.1:%d", port)
		logFile := filepath.Join(dir, fmt.Sprintf("redis-%d.log", port))
		cmd := exec.Command("redis-server", "--port", fmt.Sprint(port), "--bind", "127.0.0.1",
			"--cluster-enabled", "yes", "--cluster-port", fmt.Sprint(bus),
			"--cluster-config-file", fmt.Sprintf("nodes-%d.conf", port),
			"--cluster-node-timeout", "2000", "--cluster-replica-validity-factor", "0",
			"--dir", dir, "--save", "", "--appendonly", "no", "--logfile", logFile)
		if err := cmd.Start(); err != nil {
			t.Fatalf("start redis-server: %v", err)
		}
		exited := make(chan struct{})
		go func() { _ = cmd.Wait(); close(exited) }()
		t.Cleanup(func() { _ = cmd.Process.Kill(); <-exited })
		if err := awaitPort(addr, exited, 5*time.Second); err != nil {
			failure = fmt.Sprintf("Redis Cluster node %s (bus port %d): %v\nlast lines of %s:\n%s", addr, bus, err, logFile, tailFile(logFile, 15))
			t.Log(failure + "\ntrying other ports")
			_ = cmd.Process.Kill()
			continue
		}
		return addr, cmd
	}
	t.Fatal(failure)
	return "", nil
}

// awaitPort waits until addr accepts a connection, the process whose exit
// closes exited has exited, or timeout passed.
func awaitPort(addr string, exited <-chan struct{}, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("redis-server exited before accepting connections")
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("does not accept connections after %v", timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// tailFile returns the last n lines of the file at path, or a line saying
// why it cannot be read: for failure messages that explain themselves.
func tailFile(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", path, err)
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// waitOK waits until every node of addrs sees the cluster as ok: the first
// one does before the others have learnt the slots (seen as CLUSTERDOWN on
// a busy machine).
func (c *RedisCluster) waitOK(t testing.TB, addrs []string) {
	t.Helper()
	for _, addr := range addrs {
		host, port, _ := strings.Cut(addr, ":")
		for i := 0; ; i++ {
			out, _ := exec.Command("redis-cli", "-h", host, "-p", port, "cluster", "info").Output()
			if strings.Contains(string(out), "cluster_state:ok") {
				break
			}
			if i > 300 {
				t.Fatalf("Redis Cluster node %s not ok after 30 s:\n%s", addr, out)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}

// KillMasterOf kills the master that holds key's slot with SIGKILL, as a
// crashed host, and waits until a replica took its slots over and the
// other nodes agree. Writes the master had not yet sent to its replica are
// lost: the cluster goes back in time for that slot. It returns the killed
// node's address.
func (c *RedisCluster) KillMasterOf(t testing.TB, key string) string {
	t.Helper()
	host, port, _ := strings.Cut(c.Addrs[0], ":")
	slot, err := exec.Command("redis-cli", "-h", host, "-p", port, "cluster", "keyslot", key).Output()
	if err != nil {
		t.Fatalf("cluster keyslot %s: %v", key, err)
	}
	master := c.masterOf(strings.TrimSpace(string(slot)))
	if master == "" {
		t.Fatalf("no master found for the slot of %s", key)
	}
	_ = c.procs[master].Process.Kill()
	var alive []string
	for _, a := range c.Addrs {
		if a != master {
			alive = append(alive, a)
		}
	}
	c.Addrs = alive
	delete(c.procs, master)
	// Wait for a replica to serve the slot as master, then for every node.
	for i := 0; c.masterOf(strings.TrimSpace(string(slot))) == ""; i++ {
		if i > 300 {
			t.Fatalf("no replica took over the slot of %s within 30 s", key)
		}
		time.Sleep(100 * time.Millisecond)
	}
	c.waitOK(t, alive)
	return master
}

// masterOf is the address of the live master serving slot, as the live
// nodes see it ("" while none does).
func (c *RedisCluster) masterOf(slot string) string {
	n, err := strconv.Atoi(slot)
	if err != nil {
		return ""
	}
	for addr := range c.procs {
		h, p, _ := strings.Cut(addr, ":")
		out, err := exec.Command("redis-cli", "-h", h, "-p", p, "cluster", "nodes").Output()
		if err != nil {
			continue
		}
		for line := range strings.Lines(string(out)) {
			f := strings.Fields(line)
			if len(f) < 9 || !strings.Contains(f[2], "master") || strings.Contains(f[2], "fail") {
				continue
			}
			node, _, _ := strings.Cut(f[1], "@")
			if _, live := c.procs[node]; !live {
				continue
			}
			for _, r := range f[8:] {
				lo, hi, found := strings.Cut(r, "-")
				if !found {
					hi = lo
				}
				a, err1 := strconv.Atoi(lo)
				b, err2 := strconv.Atoi(hi)
				if err1 == nil && err2 == nil && a <= n && n <= b {
					return node
				}
			}
		}
		return "" // one live node's view is enough
	}
	return ""
}
