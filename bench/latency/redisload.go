package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/vehicle-stats/vehicle-stats/bench/internal/live"
)

// redisLoad is a reading of the Redis servers behind a row: how many there
// are, their processes' CPU time so far and the commands they processed
// since they started.
type redisLoad struct {
	servers  int
	cpu      time.Duration
	commands int64
}

// redisLoadOf reads each server at addrs: its process id (INFO server), the
// commands it processed (INFO stats, total_commands_processed: a script
// and each command it calls count, as do these INFO calls) and that process's CPU time from /proc
// (the servers run on this machine). No addrs, no reading.
func redisLoadOf(ctx context.Context, addrs []string) (redisLoad, error) {
	l := redisLoad{servers: len(addrs)}
	var pids []int
	for _, addr := range addrs {
		rdb := redis.NewClient(&redis.Options{Addr: addr})
		info, err := rdb.Info(ctx, "server", "stats").Result()
		rdb.Close()
		if err != nil {
			return l, fmt.Errorf("INFO of Redis %s: %w", addr, err)
		}
		pid, perr := infoField(info, "process_id")
		n, nerr := infoField(info, "total_commands_processed")
		if err := errors.Join(perr, nerr); err != nil {
			return l, fmt.Errorf("INFO of Redis %s: %w", addr, err)
		}
		pids = append(pids, int(pid))
		l.commands += n
	}
	u, err := live.ReadUsage(pids)
	l.cpu = u.CPU
	return l, err
}

// until is what the servers did from the reading l to the reading after;
// err is that of either reading, which leaves the figures unmeasured.
func (l redisLoad) until(after redisLoad, err error) (redisUsage, error) {
	if err != nil || l.servers == 0 || after.servers != l.servers {
		return redisUsage{}, err
	}
	return redisUsage{servers: l.servers, cpu: after.cpu - l.cpu, commands: after.commands - l.commands}, nil
}

// infoField is the integer value of field in the text of an INFO reply
// ("field:value" lines).
func infoField(info, field string) (int64, error) {
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), field+":"); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return 0, fmt.Errorf("INFO field %s: %q is not an integer", field, v)
			}
			return n, nil
		}
	}
	return 0, fmt.Errorf("INFO has no field %s", field)
}

// redisText is the Redis part of a row's CPU column: the servers' cores
// and commands per second over the row's measured time; empty when not
// measured.
func redisText(r row) string {
	if r.redis.servers == 0 || r.cpuWall <= 0 {
		return ""
	}
	servers := "Redis"
	if r.redis.servers > 1 {
		servers = fmt.Sprintf("%d Redis", r.redis.servers)
	}
	return fmt.Sprintf("%s %.2f, %.0f commands/s", servers, r.redis.cpu.Seconds()/r.cpuWall.Seconds(), float64(r.redis.commands)/r.cpuWall.Seconds())
}
