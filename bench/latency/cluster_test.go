package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// TestClusterNodeArgs: the bus port is the one given, not Redis's default
// of port + 10000, and a node writes its AOF as the local stack's Redis
// does, in a folder of its own.
func TestClusterNodeArgs(t *testing.T) {
	args := strings.Join(clusterNodeArgs(20000, 20001, "/d"), " ")
	for _, want := range []string{
		"--port 20000 ", "--cluster-enabled yes", "--cluster-port 20001 ", "--cluster-config-file nodes-20000.conf",
		"--dir /d ", "--appendonly yes --appendfsync everysec", "--appenddirname aof-20000", "--bind 127.0.0.1",
	} {
		if !strings.Contains(args+" ", want) {
			t.Errorf("args %q lack %q", args, want)
		}
	}
}

// TestLocalCluster starts the three masters as a bench step does, writes a
// key per master through a cluster client, reads the servers' load, and
// stops them: nothing listens on their ports afterwards.
func TestLocalCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts redis-server processes; skipped under -short")
	}
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Skip("needs redis-server and redis-cli (Debian: apt-get install redis-server)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c, err := startLocalCluster(ctx, t.TempDir(), clusterMasters)
	if err != nil {
		t.Fatal(err)
	}
	defer c.stop()
	if len(c.Addrs) != clusterMasters {
		t.Fatalf("addresses %v, want %d", c.Addrs, clusterMasters)
	}
	before, err := redisLoadOf(ctx, c.Addrs)
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs})
	defer rdb.Close()
	masters := map[string]bool{}
	for i := 0; len(masters) < clusterMasters && i < 100; i++ {
		key := fmt.Sprintf("{p.%d}", i)
		if err := rdb.Set(ctx, key, i, 0).Err(); err != nil {
			t.Fatal(err)
		}
		n, err := rdb.MasterForKey(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		masters[n.Options().Addr] = true
	}
	if len(masters) != clusterMasters {
		t.Errorf("100 keys landed on the masters %v, want %d of them: the slots are not spread", masters, clusterMasters)
	}
	after, err := redisLoadOf(ctx, c.Addrs)
	if err != nil {
		t.Fatal(err)
	}
	u, err := before.until(after, nil)
	if err != nil || u.servers != clusterMasters || u.commands < 3 {
		t.Errorf("load %+v (%v), want %d servers and at least a SET each", u, err, clusterMasters)
	}
	c.stop()
	for _, addr := range c.Addrs {
		if conn, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			conn.Close()
			t.Errorf("%s still accepts connections after stop", addr)
		}
	}
}

// TestInfoField: a field of an INFO reply (CRLF lines), a missing one and
// one that is not an integer.
func TestInfoField(t *testing.T) {
	info := "# Server\r\nredis_version:7.0.15\r\nprocess_id:12656\r\n\r\n# Stats\r\ntotal_commands_processed:4242\r\n"
	if n, err := infoField(info, "total_commands_processed"); n != 4242 || err != nil {
		t.Errorf("total_commands_processed: %d, %v", n, err)
	}
	if n, err := infoField(info, "process_id"); n != 12656 || err != nil {
		t.Errorf("process_id: %d, %v", n, err)
	}
	if _, err := infoField(info, "total_connections_received"); err == nil || !strings.Contains(err.Error(), "no field") {
		t.Errorf("missing field: %v", err)
	}
	if _, err := infoField(info, "redis_version"); err == nil || !strings.Contains(err.Error(), "not an integer") {
		t.Errorf("version: %v", err)
	}
}

// TestRedisUntil: the difference of two readings; a failed reading or no
// servers leave the row's Redis figures unmeasured.
func TestRedisUntil(t *testing.T) {
	a := redisLoad{servers: 3, cpu: 2 * time.Second, commands: 100}
	b := redisLoad{servers: 3, cpu: 5 * time.Second, commands: 1100}
	if u, err := a.until(b, nil); u != (redisUsage{servers: 3, cpu: 3 * time.Second, commands: 1000}) || err != nil {
		t.Errorf("until: %+v, %v", u, err)
	}
	boom := errors.New("boom")
	if u, err := a.until(b, boom); u != (redisUsage{}) || !errors.Is(err, boom) {
		t.Errorf("failed reading: %+v, %v", u, err)
	}
	if u, err := (redisLoad{}).until(redisLoad{}, nil); u != (redisUsage{}) || err != nil {
		t.Errorf("no servers: %+v, %v", u, err)
	}
}

// TestIsOurs: both of stats-processor's specs, and not the others.
func TestIsOurs(t *testing.T) {
	var got []string
	for _, s := range []string{"ours:1", "ours-cluster:3", "flink:exactly-once", "streams", "ours-clusterx:1"} {
		if isOurs(s) {
			got = append(got, s)
		}
	}
	if want := []string{"ours:1", "ours-cluster:3"}; !slices.Equal(got, want) {
		t.Errorf("isOurs: %v, want %v", got, want)
	}
}
