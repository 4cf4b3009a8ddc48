// Command holdports holds many outgoing TCP connections open on loopback for
// a while, so that a large part of the kernel's ephemeral port range is in
// use: the condition under which a test server bound to a port inside that
// range fails to start. Used to prove that the tests' servers choose their
// ports outside it:
//
//	go run ./internal/testenv/holdports -n 9900 -for 20m &   # twice: each holds both ends
//	go run ./internal/testenv/holdports -n 9900 -for 20m &   # within a 20,000 file limit
//	go test -count=30 -run 'Integration.*/cluster' ./services/stats-processor/internal/state
//
// It listens on a loopback port of its own and connects to itself, so it
// needs nothing else running; it stops by itself after -for.
package main

import (
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"syscall"
	"time"
)

func main() {
	n := flag.Int("n", 9900, "outgoing connections to hold")
	hold := flag.Duration("for", 10*time.Minute, "how long to hold them")
	flag.Parse()
	if err := run(*n, *hold); err != nil {
		fmt.Fprintln(os.Stderr, "holdports:", err)
		os.Exit(1)
	}
}

func run(n int, hold time.Duration) error {
	// Each connection takes two descriptors here (both ends).
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err == nil && lim.Cur < uint64(2*n+100) {
		lim.Cur = min(lim.Max, uint64(2*n+100))
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer ln.Close()
	var accepted []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted = append(accepted, c)
		}
	}()
	conns := make([]net.Conn, 0, n)
	for len(conns) < n {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			slog.Warn("holdports: stopped dialing", "held", len(conns), "err", err)
			break
		}
		conns = append(conns, c)
	}
	slog.Info("holdports: holding outgoing connections", "count", len(conns), "for", hold)
	time.Sleep(hold)
	for _, c := range conns {
		c.Close()
	}
	return nil
}
