package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/vehicle-stats/vehicle-stats/internal/testenv/proc"
	"github.com/vehicle-stats/vehicle-stats/internal/testenv/scratch"
)

// clusterMasters is the number of masters of ours-cluster's Redis Cluster.
const clusterMasters = 3

// localCluster is a Redis Cluster of local redis-server processes on
// loopback, started for one step of ours-cluster:N and stopped after it.
// Its nodes are masters without replicas and keep an AOF with an fsync
// every second, as the local stack's Redis does, so that an ours-cluster
// row differs from an ours row in how many Redis servers hold the state,
// not in what they write.
type localCluster struct {
	// Addrs are the nodes' host:port, the processor's seed list.
	Addrs []string
	nodes []*proc.Process
}

// startLocalCluster starts masters redis-server processes with their files
// in dir, joins them with redis-cli --cluster create and returns once every
// node reports cluster_state:ok. On an error the nodes started so far are
// stopped again.
func startLocalCluster(ctx context.Context, dir string, masters int) (*localCluster, error) {
	if _, err := exec.LookPath("redis-server"); err != nil {
		return nil, errors.New("ours-cluster needs redis-server and redis-cli on PATH; install them (Debian: apt-get install redis-server)")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	c := &localCluster{}
	for range masters {
		if err := c.startNode(ctx, dir); err != nil {
			c.stop()
			return nil, err
		}
	}
	create := append(append([]string{"--cluster", "create"}, c.Addrs...), "--cluster-yes")
	if out, err := exec.CommandContext(ctx, "redis-cli", create...).CombinedOutput(); err != nil {
		c.stop()
		return nil, fmt.Errorf("redis-cli --cluster create: %w\n%s", err, out)
	}
	if err := c.awaitOK(ctx, 30*time.Second); err != nil {
		c.stop()
		return nil, err
	}
	return c, nil
}

// clusterNodeArgs are redis-server's arguments for a node on port with its
// cluster bus on bus. The bus port is given (cluster-port) rather than
// left at Redis's default of port + 10000, which for most ports below the
// ephemeral range lies inside it, where any outgoing connection may hold it
// (internal/testenv/private.StartRedisCluster has the same caveat).
func clusterNodeArgs(port, bus int, dir string) []string {
	p := strconv.Itoa(port)
	return []string{
		"--port", p, "--bind", "127.0.0.1",
		"--cluster-enabled", "yes", "--cluster-port", strconv.Itoa(bus), "--cluster-config-file", "nodes-" + p + ".conf",
		"--dir", dir, "--appendonly", "yes", "--appendfsync", "everysec", "--appenddirname", "aof-" + p, "--save", "",
	}
}

// startNode starts one node on two free consecutive ports below the
// ephemeral range (its data port and its bus port) and waits until it
// accepts connections; a node that does not come up (a server took a port
// between the check and the bind) is tried again on other ports.
func (c *localCluster) startNode(ctx context.Context, dir string) error {
	var failure error
	for range 3 {
		port, err := scratch.FreePorts(2)
		if err != nil {
			return err
		}
		addr := fmt.Sprintf("127.0.0.1:%d", port)
		p, err := proc.StartProcess("redis-"+strconv.Itoa(port), "redis-server", proc.Launch{
			Args: clusterNodeArgs(port, port+1, dir), LogPath: filepath.Join(dir, fmt.Sprintf("redis-%d.log", port)),
		})
		if err != nil {
			return err
		}
		if failure = awaitListening(ctx, addr, p, 5*time.Second); failure == nil {
			c.Addrs, c.nodes = append(c.Addrs, addr), append(c.nodes, p)
			return nil
		}
		p.Kill()
		failure = fmt.Errorf("node %s of the Redis Cluster (bus port %d): %w\n%s", addr, port+1, failure, p.Tail(15))
	}
	return failure
}

// awaitListening waits until addr accepts a connection, p exited or
// timeout passed.
func awaitListening(ctx context.Context, addr string, p *proc.Process, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		if conn, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			conn.Close()
			return nil
		}
		select {
		case <-p.Done():
			return errors.New("redis-server exited before accepting connections")
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("does not accept connections after %s", timeout)
		}
	}
}

// awaitOK waits until every node reports cluster_state:ok.
func (c *localCluster) awaitOK(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for _, addr := range c.Addrs {
		rdb := redis.NewClient(&redis.Options{Addr: addr})
		for {
			info, err := rdb.ClusterInfo(ctx).Result()
			if err == nil && strings.Contains(info, "cluster_state:ok") {
				break
			}
			if time.Now().After(deadline) || ctx.Err() != nil {
				rdb.Close()
				return fmt.Errorf("node %s of the Redis Cluster not ok after %s (%v):\n%s", addr, timeout, err, info)
			}
			time.Sleep(100 * time.Millisecond)
		}
		rdb.Close()
	}
	return nil
}

// stop stops every node; the cluster's files stay in its folder (under
// the run's output, which run.sh's callers may delete).
func (c *localCluster) stop() {
	for _, p := range c.nodes {
		if err := p.Stop(10 * time.Second); err != nil {
			fmt.Fprintf(os.Stderr, "  %v\n", err)
		}
	}
	c.nodes = nil
}
