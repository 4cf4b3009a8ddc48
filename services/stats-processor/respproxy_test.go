package main_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// respProxy stands between a Redis client (the processor) and Redis on
// loopback. It copies each connection both ways, but reads what the client
// sends command by command (RESP: an array of bulk strings; pipelined
// commands one at a time) and shows each to inspect before it goes on.
// inspect returns nil to forward the command at once, or a channel: the
// command, and everything after it on that connection, waits until the
// channel is closed, while every other connection flows (a pooled client
// sends its other commands over those). When inspect runs, every earlier
// command of its connection has been sent to Redis. Replies are copied
// back untouched. The proxy is closed when the test ends: it stops
// listening, releases what waits and closes every connection.
type respProxy struct {
	addr    string
	target  string
	inspect func(args []string) <-chan struct{}
	ln      net.Listener
	quit    chan struct{}
	wg      sync.WaitGroup
	mu      sync.Mutex
	conns   map[net.Conn]struct{}
}

// startRESPProxy listens on a free loopback port and forwards to target.
func startRESPProxy(t *testing.T, target string, inspect func(args []string) <-chan struct{}) *respProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &respProxy{addr: ln.Addr().String(), target: target, inspect: inspect, ln: ln,
		quit: make(chan struct{}), conns: map[net.Conn]struct{}{}}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.close)
	return p
}

func (p *respProxy) close() {
	close(p.quit)
	p.ln.Close()
	p.mu.Lock()
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

// track registers c to be closed with the proxy; false when it is closed.
func (p *respProxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.quit:
		c.Close()
		return false
	default:
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *respProxy) accept() {
	defer p.wg.Done()
	for {
		client, err := p.ln.Accept()
		if err != nil {
			return // closed
		}
		server, err := net.Dial("tcp", p.target)
		if err != nil {
			client.Close()
			continue // the client sees its connection closed, and dials again
		}
		if !p.track(client) || !p.track(server) {
			server.Close()
			return
		}
		p.wg.Add(2)
		go func() {
			defer p.wg.Done()
			_, _ = io.Copy(client, server)
			client.Close()
		}()
		go func() {
			defer p.wg.Done()
			p.forward(client, server)
			server.Close()
		}()
	}
}

// forward sends the client's commands to the server one by one, each after
// inspect let it go.
func (p *respProxy) forward(client, server net.Conn) {
	r := bufio.NewReader(client)
	for {
		raw, args, err := readCommand(r)
		if err != nil {
			return // the client went away, or sent what is not RESP
		}
		if wait := p.inspect(args); wait != nil {
			select {
			case <-wait:
			case <-p.quit:
				return
			}
		}
		if _, err := server.Write(raw); err != nil {
			return
		}
	}
}

// readCommand reads one client command: its bytes as sent and its
// arguments. Clients send arrays of bulk strings; an inline command (a
// line, as telnet sends) is split at spaces.
func readCommand(r *bufio.Reader) (raw []byte, args []string, err error) {
	line, err := r.ReadBytes('\n')
	if err != nil {
		return nil, nil, err
	}
	raw = line
	if line[0] != '*' {
		return raw, strings.Fields(string(line)), nil
	}
	n, err := respLength(line)
	if err != nil {
		return nil, nil, err
	}
	args = make([]string, 0, n)
	for range n {
		head, err := r.ReadBytes('\n')
		if err != nil {
			return nil, nil, err
		}
		if head[0] != '$' {
			return nil, nil, fmt.Errorf("RESP: want a bulk string, got %q", head)
		}
		size, err := respLength(head)
		if err != nil {
			return nil, nil, err
		}
		body := make([]byte, size+2) // and its CRLF
		if _, err := io.ReadFull(r, body); err != nil {
			return nil, nil, err
		}
		raw = append(append(raw, head...), body...)
		args = append(args, string(body[:size]))
	}
	return raw, args, nil
}

// respLength parses the number of a RESP header line ("*3\r\n", "$5\r\n").
func respLength(line []byte) (int, error) {
	s := strings.TrimSuffix(strings.TrimSuffix(string(line[1:]), "\n"), "\r")
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, errors.Join(fmt.Errorf("RESP: bad length in %q", line), err)
	}
	return n, nil
}
